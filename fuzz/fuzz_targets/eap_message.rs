#![no_main]
hybridauth_fuzz::target!("eap_message");
