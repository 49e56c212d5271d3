#![no_main]
hybridauth_fuzz::target!("dn_and_names");
