//! Just enough of BTF (the kernel's type information, /sys/kernel/btf/vmlinux) to find struct
//! member offsets. The Rust eBPF backend emits no CO-RE relocations, so a probe that reads a
//! kernel struct gets its offsets from here, as load-time constants.

use std::collections::HashMap;

const BTF_MAGIC: u16 = 0xeb9f;
/// Anonymous structs and unions nest a few levels deep in the kernel's types; more is malformed.
const MAX_ANONYMOUS_DEPTH: usize = 32;
/// Far more members than any look-up in a kernel's BTF passes over (tcp_sock has a few hundred).
const MAX_MEMBERS_VISITED: usize = 1 << 16;

/// A parsed type: its kind, name, size (for structs), members, or the type it refers to.
#[derive(Clone, Debug)]
enum Type {
    Struct {
        members: Vec<Member>,
    },
    Enum {
        values: Vec<(String, i64)>,
    },
    /// typedef, const, volatile, restrict, type tag: transparent wrappers.
    Alias {
        target: u32,
    },
    Other,
}

#[derive(Clone, Debug)]
struct Member {
    name: String,
    type_id: u32,
    bit_offset: u32,
}

/// The types of one BTF blob.
pub(crate) struct Btf {
    types: Vec<Type>,
    structs_by_name: HashMap<String, u32>,
    enums_by_name: HashMap<String, u32>,
}

/// Why an offset could not be found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BtfError {
    Malformed(&'static str),
    NoStruct(String),
    NoMember(String),
    NoEnum(String),
}

impl std::fmt::Display for BtfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BtfError::Malformed(why) => write!(f, "malformed BTF: {why}"),
            BtfError::NoStruct(name) => write!(f, "BTF has no struct {name}"),
            BtfError::NoMember(path) => write!(f, "BTF has no member {path}"),
            BtfError::NoEnum(name) => write!(f, "BTF has no enum {name}"),
        }
    }
}

impl Btf {
    pub(crate) fn parse(data: &[u8]) -> Result<Self, BtfError> {
        let u16_at = |at: usize| {
            data.get(at..at + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
        };
        let u32_at = |at: usize| {
            data.get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let bad = |why| BtfError::Malformed(why);
        if u16_at(0) != Some(BTF_MAGIC) {
            return Err(bad("bad magic (or not little-endian)"));
        }
        let header_len = u32_at(4).ok_or(bad("short header"))? as usize;
        let type_off = u32_at(8).ok_or(bad("short header"))? as usize;
        let type_len = u32_at(12).ok_or(bad("short header"))? as usize;
        let str_off = u32_at(16).ok_or(bad("short header"))? as usize;
        let str_len = u32_at(20).ok_or(bad("short header"))? as usize;
        let strings = data
            .get(header_len + str_off..header_len + str_off + str_len)
            .ok_or(bad("string section out of bounds"))?;
        let name = |offset: u32| -> String {
            let rest = strings.get(offset as usize..).unwrap_or_default();
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end]).into_owned()
        };
        let start = header_len + type_off;
        let end = start + type_len;
        if end > data.len() {
            return Err(bad("type section out of bounds"));
        }
        // Type id 0 is void.
        let mut types = vec![Type::Other];
        let mut structs_by_name = HashMap::new();
        let mut enums_by_name = HashMap::new();
        let mut at = start;
        while at + 12 <= end {
            let name_off = u32_at(at).ok_or(bad("truncated type"))?;
            let info = u32_at(at + 4).ok_or(bad("truncated type"))?;
            let size_or_type = u32_at(at + 8).ok_or(bad("truncated type"))?;
            at += 12;
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let kind_flag = info >> 31 == 1;
            let id = types.len() as u32;
            let ty = match kind {
                // struct, union
                4 | 5 => {
                    let mut members = Vec::with_capacity(vlen);
                    for i in 0..vlen {
                        let m = at + i * 12;
                        let offset = u32_at(m + 8).ok_or(bad("truncated member"))?;
                        members.push(Member {
                            name: name(u32_at(m).ok_or(bad("truncated member"))?),
                            type_id: u32_at(m + 4).ok_or(bad("truncated member"))?,
                            bit_offset: if kind_flag {
                                offset & 0x00ff_ffff
                            } else {
                                offset
                            },
                        });
                    }
                    at += vlen * 12;
                    if kind == 4 && name_off != 0 {
                        structs_by_name.entry(name(name_off)).or_insert(id);
                    }
                    Type::Struct { members }
                }
                // enum (name, i32 value) and enum64 (name, low, high)
                6 | 19 => {
                    let entry = if kind == 6 { 8 } else { 12 };
                    let mut values = Vec::with_capacity(vlen);
                    for i in 0..vlen {
                        let e = at + i * entry;
                        let low = u32_at(e + 4).ok_or(bad("truncated enum"))?;
                        let value = if kind == 6 {
                            i64::from(low as i32)
                        } else {
                            let high = u32_at(e + 8).ok_or(bad("truncated enum"))?;
                            ((u64::from(high) << 32) | u64::from(low)) as i64
                        };
                        values.push((name(u32_at(e).ok_or(bad("truncated enum"))?), value));
                    }
                    at += vlen * entry;
                    if name_off != 0 {
                        enums_by_name.entry(name(name_off)).or_insert(id);
                    }
                    Type::Enum { values }
                }
                8 | 9 | 10 | 11 | 18 => Type::Alias {
                    target: size_or_type,
                },
                _ => {
                    at += match kind {
                        1 | 14 | 17 => 4,     // int, var, decl tag
                        3 => 12,              // array
                        13 => vlen * 8,       // func proto
                        15 => vlen * 12,      // datasec
                        2 | 7 | 12 | 16 => 0, // ptr, fwd, func, float
                        _ => return Err(bad("unknown type kind")),
                    };
                    Type::Other
                }
            };
            types.push(ty);
        }
        Ok(Btf {
            types,
            structs_by_name,
            enums_by_name,
        })
    }

    pub(crate) fn from_sys_fs() -> std::io::Result<Result<Self, BtfError>> {
        Ok(Self::parse(&std::fs::read("/sys/kernel/btf/vmlinux")?))
    }

    fn resolve(&self, mut id: u32) -> Option<&Type> {
        for _ in 0..32 {
            match self.types.get(id as usize)? {
                Type::Alias { target } => id = *target,
                ty => return Some(ty),
            }
        }
        None
    }

    /// Bit offset of `member` in struct `name`: for a bit-field, whose byte offset alone does not
    /// place it.
    pub(crate) fn member_bit_offset(&self, name: &str, member: &str) -> Result<u32, BtfError> {
        let id = *self
            .structs_by_name
            .get(name)
            .ok_or_else(|| BtfError::NoStruct(name.to_string()))?;
        self.find_member(id, member)
            .ok_or_else(|| BtfError::NoMember(format!("{name}.{member}")))
    }

    /// Byte offset of `member` in struct `name`, looking through anonymous structs and unions.
    pub(crate) fn member_offset(&self, name: &str, member: &str) -> Result<u32, BtfError> {
        self.member_bit_offset(name, member).map(|bits| bits / 8)
    }

    /// The enumerators of enum `name`, in declaration order.
    pub(crate) fn enum_values(&self, name: &str) -> Result<&[(String, i64)], BtfError> {
        let id = *self
            .enums_by_name
            .get(name)
            .ok_or_else(|| BtfError::NoEnum(name.to_string()))?;
        match self.types.get(id as usize) {
            Some(Type::Enum { values }) => Ok(values),
            _ => Err(BtfError::NoEnum(name.to_string())),
        }
    }

    /// Bit offset of `member` within type `id`, searching anonymous members recursively.
    fn find_member(&self, id: u32, member: &str) -> Option<u32> {
        let mut budget = MAX_MEMBERS_VISITED;
        self.search_member(id, member, MAX_ANONYMOUS_DEPTH, &mut budget)
    }

    /// Bounded in depth and in members visited: a malformed blob can make an anonymous member
    /// contain its own struct (endless recursion) or share inner structs many times over
    /// (exponential work). None also when the offsets overflow.
    fn search_member(
        &self,
        id: u32,
        member: &str,
        depth: usize,
        budget: &mut usize,
    ) -> Option<u32> {
        let Type::Struct { members } = self.resolve(id)? else {
            return None;
        };
        for m in members {
            *budget = budget.checked_sub(1)?;
            if m.name == member {
                return Some(m.bit_offset);
            }
            if m.name.is_empty()
                && depth > 0
                && let Some(inner) = self.search_member(m.type_id, member, depth - 1, budget)
            {
                return m.bit_offset.checked_add(inner);
            }
        }
        None
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A tiny BTF blob: struct outer { int a; union { int b; struct inner c; }; } with
    /// struct inner { int x; int y; } — built by hand.
    fn blob() -> Vec<u8> {
        let strings = b"\0int\0outer\0a\0b\0c\0inner\0x\0y\0";
        let off = |s: &str| {
            let pos = strings
                .windows(s.len() + 2)
                .position(|w| w[0] == 0 && &w[1..=s.len()] == s.as_bytes() && w[s.len() + 1] == 0)
                .unwrap();
            (pos + 1) as u32
        };
        let mut types = Vec::new();
        let mut push = |words: &[u32]| {
            for w in words {
                types.extend_from_slice(&w.to_le_bytes());
            }
        };
        // 1: int (kind 1) + 4 bytes of encoding
        push(&[off("int"), 1 << 24, 4, 32]);
        // 2: struct inner { x @0, y @32 }
        push(&[
            off("inner"),
            (4 << 24) | 2,
            8,
            off("x"),
            1,
            0,
            off("y"),
            1,
            32,
        ]);
        // 3: anonymous union { b @0, c @0 }
        push(&[0, (5 << 24) | 2, 8, off("b"), 1, 0, off("c"), 2, 0]);
        // 4: struct outer { a @0, <anon> @64 }
        push(&[off("outer"), (4 << 24) | 2, 16, off("a"), 1, 0, 0, 3, 64]);
        assemble(&types, strings)
    }

    /// A BTF blob: header, then the type and string sections as given.
    fn assemble(types: &[u8], strings: &[u8]) -> Vec<u8> {
        let mut data = Vec::new();
        data.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        data.extend_from_slice(&[1, 0]);
        for w in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            data.extend_from_slice(&w.to_le_bytes());
        }
        data.extend_from_slice(types);
        data.extend_from_slice(strings);
        data
    }

    fn words(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    // Found by the btf fuzz target: an anonymous member of its own struct type recursed until
    // the stack overflowed.
    #[test]
    fn an_anonymous_member_of_its_own_type_is_not_followed_forever() {
        // 1: struct loop { <anon>: struct loop @0 }; "loop" at string offset 1.
        let blob = assemble(&words(&[1, (4 << 24) | 1, 8, 0, 1, 0]), b"\0loop\0x\0");
        let btf = Btf::parse(&blob).unwrap();
        assert_eq!(
            btf.member_offset("loop", "x"),
            Err(BtfError::NoMember("loop.x".into()))
        );
    }

    #[test]
    fn shared_anonymous_members_do_not_take_exponential_time() {
        // Types 1..=40: struct t{i} { <anon>: t{i+1} @0, <anon>: t{i+1} @0 } (2^40 paths), all
        // named "deep" (only the first is looked up); the last has no members.
        let mut types = Vec::new();
        for id in 1..=40u32 {
            types.extend(words(&[1, (4 << 24) | 2, 8, 0, id + 1, 0, 0, id + 1, 0]));
        }
        types.extend(words(&[1, 4 << 24, 8]));
        let blob = assemble(&types, b"\0deep\0");
        let btf = Btf::parse(&blob).unwrap();
        let started = std::time::Instant::now();
        assert!(btf.member_offset("deep", "x").is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn an_offset_past_u32_is_malformed_not_an_overflow() {
        // 1: int; 2: struct inner { x @0xffff_fff0 }; 3: struct outer { <anon>: inner @0x100 }.
        let types = words(&[
            0,
            1 << 24,
            4,
            32,
            7,
            (4 << 24) | 1,
            4,
            13,
            1,
            0xffff_fff0,
            1,
            (4 << 24) | 1,
            4,
            0,
            2,
            0x100,
        ]);
        let blob = assemble(&types, b"\0outer\0inner\0x\0");
        let btf = Btf::parse(&blob).unwrap();
        assert_eq!(btf.member_offset("inner", "x"), Ok(0xffff_fff0 / 8));
        assert!(btf.member_offset("outer", "x").is_err());
    }

    #[test]
    fn finds_members_through_anonymous_unions() {
        let btf = Btf::parse(&blob()).unwrap();
        assert_eq!(btf.member_offset("outer", "a"), Ok(0));
        assert_eq!(btf.member_offset("outer", "b"), Ok(8));
        assert_eq!(btf.member_offset("inner", "y"), Ok(4));
        assert_eq!(
            btf.member_offset("outer", "zz"),
            Err(BtfError::NoMember("outer.zz".into()))
        );
        assert_eq!(
            btf.member_offset("nope", "a"),
            Err(BtfError::NoStruct("nope".into()))
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(Btf::parse(b"hello").is_err());
        let mut truncated = blob();
        truncated.truncate(30);
        assert!(Btf::parse(&truncated).is_err());
    }

    /// This kernel's BTF. Without it these tests are skipped, saying so, on a developer's
    /// machine; under CI (`CI=true`) they fail, since the machines CI runs on have it.
    pub(in crate::probes) fn kernel_btf_or_skip() -> Option<Btf> {
        match Btf::from_sys_fs() {
            Ok(Ok(btf)) => Some(btf),
            other => {
                let why = match other {
                    Err(err) => err.to_string(),
                    Ok(Err(err)) => err.to_string(),
                    Ok(Ok(_)) => unreachable!(),
                };
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "no kernel BTF under CI: {why}"
                );
                eprintln!("skipped: no kernel BTF ({why})");
                None
            }
        }
    }

    #[test]
    fn this_kernel_has_the_offsets_the_probe_needs() {
        let Some(btf) = kernel_btf_or_skip() else {
            return;
        };
        assert!(btf.member_offset("sock_common", "skc_net").is_ok());
        assert!(btf.member_offset("net", "ns").is_ok());
        assert!(btf.member_offset("ns_common", "inum").is_ok());
        for member in ["bytes_acked", "bytes_received", "snd_una", "write_seq"] {
            assert!(btf.member_offset("tcp_sock", member).is_ok(), "{member}");
        }
        assert!(
            btf.enum_values("sock_flags")
                .unwrap()
                .contains(&("SOCK_DONE".to_string(), 1))
        );
    }

    #[test]
    fn this_kernel_names_its_drop_reasons() {
        let Some(btf) = kernel_btf_or_skip() else {
            return;
        };
        let reasons = btf.enum_values("skb_drop_reason").unwrap();
        assert!(
            reasons
                .iter()
                .any(|(name, value)| name == "SKB_DROP_REASON_NOT_SPECIFIED" && *value == 2),
            "{reasons:?}"
        );
    }
}
