#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kpki_fuzz::existing_set(data));
