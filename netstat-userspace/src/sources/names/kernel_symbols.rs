//! Kernel text addresses to `function+0xoffset`, from /proc/kallsyms: where a packet was
//! dropped says more than the drop reason alone (NOT_SPECIFIED, often).

use std::cell::OnceCell;

use crate::model::names::KernelFunctions;

/// Text symbols sorted by address.
#[derive(Debug, Default)]
pub(crate) struct KernelSymbols {
    symbols: Vec<(u64, String)>,
}

impl KernelSymbols {
    /// Reads /proc/kallsyms. Empty when it cannot be read or hides addresses (kptr_restrict).
    fn load() -> Self {
        std::fs::read("/proc/kallsyms")
            .map(|text| Self::parse(&text))
            .unwrap_or_default()
    }

    /// `ADDRESS TYPE NAME [MODULE]` lines; only text symbols (t, T) are kept.
    pub(crate) fn parse(text: &[u8]) -> Self {
        let mut symbols: Vec<(u64, String)> = text
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let mut fields = line.split(|&b| b == b' ' || b == b'\t');
                let address =
                    u64::from_str_radix(std::str::from_utf8(fields.next()?).ok()?, 16).ok()?;
                let kind = fields.next()?;
                let name = fields.next()?;
                (address != 0 && matches!(kind, b"t" | b"T"))
                    .then(|| (address, String::from_utf8_lossy(name).into_owned()))
            })
            .collect();
        symbols.sort_unstable_by_key(|(address, _)| *address);
        KernelSymbols { symbols }
    }
}

impl KernelFunctions for KernelSymbols {
    /// None also when the address precedes every symbol or none are known.
    fn describe(&self, address: u64) -> Option<String> {
        let after = self.symbols.partition_point(|(start, _)| *start <= address);
        let (start, name) = self.symbols.get(after.checked_sub(1)?)?;
        Some(format!("{name}+{:#x}", address - start))
    }
}

/// /proc/kallsyms read at the first lookup: reading it takes a moment, and most runs see no drop.
#[derive(Debug, Default)]
pub(crate) struct KernelSymbolsOnDemand(OnceCell<KernelSymbols>);

impl KernelFunctions for KernelSymbolsOnDemand {
    fn describe(&self, address: u64) -> Option<String> {
        self.0.get_or_init(KernelSymbols::load).describe(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KALLSYMS: &[u8] = b"\
ffffffff81000000 T _stext
ffffffff820d9600 t __dev_forward_skb2
ffffffff820d9800 T dev_forward_skb
ffffffff820d9700 d some_data
0000000000000000 T hidden
ffffffffc0001000 t veth_xmit\t[veth]
";

    #[test]
    fn names_an_address_by_the_symbol_it_falls_in() {
        let symbols = KernelSymbols::parse(KALLSYMS);
        assert_eq!(
            symbols.describe(0xffffffff820d96ae).as_deref(),
            Some("__dev_forward_skb2+0xae")
        );
        assert_eq!(
            symbols.describe(0xffffffff820d9800).as_deref(),
            Some("dev_forward_skb+0x0")
        );
        assert_eq!(
            symbols.describe(0xffffffffc0001010).as_deref(),
            Some("veth_xmit+0x10")
        );
        assert_eq!(symbols.describe(0x1000), None);
    }

    #[test]
    fn hidden_addresses_name_nothing() {
        let symbols = KernelSymbols::parse(b"0000000000000000 T a\n0000000000000000 T b\n");
        assert_eq!(symbols.describe(0xffffffff81000000), None);
    }
}
