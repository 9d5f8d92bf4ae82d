#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| enetstat::fuzz_api::netlink_sock_diag(data));
