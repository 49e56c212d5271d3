#![no_main]
hybridauth_fuzz::target!("config_file");
