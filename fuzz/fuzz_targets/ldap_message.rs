#![no_main]
hybridauth_fuzz::target!("ldap_message");
