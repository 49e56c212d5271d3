#![no_main]
hybridauth_fuzz::target!("admin_http");
