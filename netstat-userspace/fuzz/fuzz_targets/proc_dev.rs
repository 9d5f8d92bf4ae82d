#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| enetstat::fuzz_api::proc_dev(data));
