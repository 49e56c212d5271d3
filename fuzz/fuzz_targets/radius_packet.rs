#![no_main]
hybridauth_fuzz::target!("radius_packet");
