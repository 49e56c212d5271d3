#![no_main]
hybridauth_fuzz::target!("scenario_file");
