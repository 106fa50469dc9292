//! Register layouts from the stub's `target.xml`, and register values.

/// One register as described by `target.xml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegDesc {
    pub name: String,
    /// Width in bits (64 for rax, 80 for st0, 128 for xmm0).
    pub bits: u32,
    /// The number used in `p`/`P` packets.
    pub regnum: u32,
    /// The `type` attribute (`int64`, `code_ptr`, `i387_ext`, `vec128`...).
    pub ty: String,
    /// The `group` attribute, if given (`general`, `float`, `vector`...).
    pub group: Option<String>,
}

/// All registers of the target, in `regnum` order, with their offsets in a `g` reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegLayout {
    pub regs: Vec<RegDesc>,
}

impl RegLayout {
    /// The register named `name` (case-insensitive).
    pub fn find(&self, name: &str) -> Option<&RegDesc> {
        self.regs.iter().find(|r| r.name.eq_ignore_ascii_case(name))
    }
}

/// Register values of one vCPU: `(description, little-endian bytes)` in layout order.
/// A register the stub could not supply is absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegValues {
    pub values: Vec<(RegDesc, Vec<u8>)>,
}

impl RegValues {
    /// The register's value as an integer, if it exists and is at most 64 bits wide.
    pub fn get_u64(&self, name: &str) -> Option<u64> {
        let (desc, bytes) = self
            .values
            .iter()
            .find(|(d, _)| d.name.eq_ignore_ascii_case(name))?;
        if desc.bits > 64 || bytes.len() > 8 {
            return None;
        }
        let mut buf = [0u8; 8];
        buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(u64::from_le_bytes(buf))
    }

    /// The raw bytes of a register.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.values
            .iter()
            .find(|(d, _)| d.name.eq_ignore_ascii_case(name))
            .map(|(_, b)| b.as_slice())
    }
}

/// The most `xi:include` files followed from one `target.xml`.
pub const MAX_INCLUDES: usize = 32;

/// One item of a target description, in document order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DescItem {
    Reg {
        name: String,
        bits: u32,
        regnum: Option<u32>,
        ty: String,
        group: Option<String>,
    },
    /// `<xi:include href="..."/>`: another annex to read in its place.
    Include(String),
}

/// Why a target description (`target.xml` or an include) could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DescriptionError {
    #[error("bad target XML: {0}")]
    Xml(#[from] roxmltree::Error),
    #[error("a <reg> without a name")]
    RegWithoutName,
    #[error("register {name} has no valid bitsize")]
    BadBitsize { name: String },
    #[error("register {name} has a bad regnum {value:?}")]
    BadRegnum { name: String, value: String },
    #[error("an <xi:include> without href")]
    IncludeWithoutHref,
    #[error("target description includes more than {MAX_INCLUDES} files")]
    TooManyIncludes,
    /// The include could not be fetched.
    #[error("{href} could not be read: {source}")]
    Fetch {
        href: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The include was read but is itself bad.
    #[error("{href}: {source}")]
    InInclude {
        href: String,
        source: Box<DescriptionError>,
    },
}

impl From<DescriptionError> for crate::BridgeError {
    fn from(e: DescriptionError) -> Self {
        crate::BridgeError::Protocol(e.to_string())
    }
}

/// Parses one target-description XML document into registers and includes, in order.
pub fn parse_description(xml: &str) -> Result<Vec<DescItem>, DescriptionError> {
    // gdb's and QEMU's descriptions use `xi:include` without declaring the namespace, which a
    // conforming parser rejects; the prefix carries no meaning here, so drop it.
    let xml = xml.replace("<xi:include", "<include");
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&xml, opts)?;
    let mut items = Vec::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        match node.tag_name().name() {
            "reg" => {
                let name = node
                    .attribute("name")
                    .ok_or(DescriptionError::RegWithoutName)?
                    .to_string();
                let bits = node
                    .attribute("bitsize")
                    .and_then(|b| b.parse::<u32>().ok())
                    .filter(|&b| b > 0 && b <= 4096)
                    .ok_or_else(|| DescriptionError::BadBitsize { name: name.clone() })?;
                let regnum = match node.attribute("regnum") {
                    Some(r) => Some(r.parse::<u32>().map_err(|_| DescriptionError::BadRegnum {
                        name: name.clone(),
                        value: r.to_string(),
                    })?),
                    None => None,
                };
                items.push(DescItem::Reg {
                    name,
                    bits,
                    regnum,
                    ty: node.attribute("type").unwrap_or("int").to_string(),
                    group: node.attribute("group").map(str::to_string),
                });
            }
            "include" => {
                let href = node
                    .attribute("href")
                    .ok_or(DescriptionError::IncludeWithoutHref)?;
                items.push(DescItem::Include(href.to_string()));
            }
            _ => {}
        }
    }
    Ok(items)
}

/// The annexes a description includes, in order.
pub fn includes(items: &[DescItem]) -> impl Iterator<Item = &str> {
    items.iter().filter_map(|i| match i {
        DescItem::Include(h) => Some(h.as_str()),
        DescItem::Reg { .. } => None,
    })
}

/// Builds a layout from `target.xml`, calling `fetch` for each included annex.
///
/// Registers are numbered in document order unless they say `regnum`, as gdb does. A fetch
/// error is kept as the source of [`DescriptionError::Fetch`].
pub fn build_layout<E>(
    root: &str,
    mut fetch: impl FnMut(&str) -> Result<String, E>,
) -> Result<RegLayout, DescriptionError>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut pending: Vec<DescItem> = parse_description(root)?;
    pending.reverse();
    let mut includes = 0usize;
    let mut next_regnum = 0u32;
    let mut layout = RegLayout::default();
    while let Some(item) = pending.pop() {
        match item {
            DescItem::Reg {
                name,
                bits,
                regnum,
                ty,
                group,
            } => {
                let regnum = regnum.unwrap_or(next_regnum);
                next_regnum = regnum.saturating_add(1);
                layout.regs.push(RegDesc {
                    name,
                    bits,
                    regnum,
                    ty,
                    group,
                });
            }
            DescItem::Include(href) => {
                includes += 1;
                if includes > MAX_INCLUDES {
                    return Err(DescriptionError::TooManyIncludes);
                }
                let text = fetch(&href).map_err(|e| DescriptionError::Fetch {
                    href: href.clone(),
                    source: e.into(),
                })?;
                let mut sub =
                    parse_description(&text).map_err(|e| DescriptionError::InInclude {
                        href: href.clone(),
                        source: Box::new(e),
                    })?;
                sub.reverse();
                pending.extend(sub);
            }
        }
    }
    layout.regs.sort_by_key(|r| r.regnum);
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: &str = r#"<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">
<target><architecture>i386:x86-64</architecture><xi:include href="i386-64bit.xml"/></target>"#;
    const CORE: &str = r#"<?xml version="1.0"?>
<feature name="org.gnu.gdb.i386.core">
  <reg name="rax" bitsize="64" type="int64"/>
  <reg name="rip" bitsize="64" type="code_ptr"/>
  <reg name="eflags" bitsize="32" type="i386_eflags"/>
  <reg name="st0" bitsize="80" type="i387_ext" group="float"/>
  <reg name="cr3" bitsize="64" regnum="40" type="int64"/>
  <reg name="cr4" bitsize="64" type="int64"/>
</feature>"#;

    #[test]
    fn follows_includes_and_numbers_registers() {
        let layout = build_layout(TARGET, |href| {
            assert_eq!(href, "i386-64bit.xml");
            Ok::<_, String>(CORE.to_string())
        })
        .unwrap();
        let names: Vec<_> = layout
            .regs
            .iter()
            .map(|r| (r.name.as_str(), r.regnum, r.bits))
            .collect();
        assert_eq!(
            names,
            vec![
                ("rax", 0, 64),
                ("rip", 1, 64),
                ("eflags", 2, 32),
                ("st0", 3, 80),
                ("cr3", 40, 64),
                ("cr4", 41, 64)
            ]
        );
        assert_eq!(layout.find("RIP").unwrap().ty, "code_ptr");
    }

    #[test]
    fn include_loops_are_bounded() {
        let err = build_layout(TARGET, |_| Ok::<_, String>(TARGET.to_string())).unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
    }

    /// Found by the `target_xml` fuzz target: roxmltree 0.20 panicked on an entity that closes
    /// its parent element. A stub's XML must never crash qmdb.
    #[test]
    fn regression_entity_closing_its_parent_is_an_error() {
        let xml = r#"<!DOCTYPE t[<!ENTITY a "<g/></t>">]><t>&a;</t>"#;
        assert!(parse_description(xml).is_err());
    }

    #[test]
    fn bad_xml_is_an_error() {
        assert!(parse_description("<target><reg name='x'/></target>")
            .unwrap_err()
            .to_string()
            .contains("bitsize"));
        assert!(parse_description("<target").is_err());
    }

    #[test]
    fn values_by_name() {
        let d = |name: &str, bits| RegDesc {
            name: name.into(),
            bits,
            regnum: 0,
            ty: "int".into(),
            group: None,
        };
        let v = RegValues {
            values: vec![
                (d("rip", 64), 0xffffffff81000000u64.to_le_bytes().to_vec()),
                (d("eflags", 32), vec![0x46, 0x02, 0, 0]),
                (d("xmm0", 128), vec![0; 16]),
            ],
        };
        assert_eq!(v.get_u64("rip"), Some(0xffffffff81000000));
        assert_eq!(v.get_u64("eflags"), Some(0x246));
        assert_eq!(v.get_u64("xmm0"), None);
        assert_eq!(v.get_u64("nope"), None);
    }
}
