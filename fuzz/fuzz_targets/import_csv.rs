#![no_main]
hybridauth_fuzz::target!("import_csv");
