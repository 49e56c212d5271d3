#![no_main]
hybridauth_fuzz::target!("paged_cookie");
