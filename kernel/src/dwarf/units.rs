//! The units of `.debug_info`: their headers, found by offset, and reading their DIEs into
//! [`Die`]s, with names in any string form (`strp`, `line_strp`, `strx`, inline) and
//! references made `.debug_info` offsets. The line program is never parsed.

use super::die::{Die, Ref};
use super::DwarfError;
use crate::btf::MAX_DEPTH;
use gimli::{constants as dw, Abbreviations, DebugStrOffsetsBase, Reader, Section, UnitHeader};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// The reader all DWARF is read through.
pub(crate) use super::sections::Slice;
pub(crate) type Dwarf<'a> = gimli::Dwarf<Slice<'a>>;
type Entry<'a> = gimli::DebuggingInformationEntry<Slice<'a>>;

/// The most children read of one DIE (BTF records at most 65535 anyway).
pub(crate) const MAX_CHILDREN: usize = 1 << 16;

/// How many parsed units are kept (references across units are rare: LTO, partial units).
const CACHED_UNITS: usize = 4;

/// One unit, ready to read DIEs from.
pub(crate) struct Unit<'a> {
    header: UnitHeader<Slice<'a>>,
    abbrevs: Arc<Abbreviations>,
    str_offsets_base: DebugStrOffsetsBase<usize>,
    /// `.debug_info` offsets of the header and of the end of the unit.
    pub start: usize,
    pub end: usize,
}

/// Every unit header of `.debug_info`, and a few parsed units.
pub(crate) struct Units<'a> {
    dwarf: &'a Dwarf<'a>,
    headers: Vec<UnitHeader<Slice<'a>>>,
    signatures: HashMap<u64, usize>,
    cache: Vec<Rc<Unit<'a>>>,
    types_base: usize,
}

/// Where a unit starts. Units of DWARF 4's `.debug_types` are numbered as if that section
/// followed `.debug_info` (`types_base` is `.debug_info`'s length), so that one offset names
/// any DIE.
fn start_of(h: &UnitHeader<Slice<'_>>, types_base: usize) -> usize {
    match h.section() {
        gimli::SectionId::DebugTypes => types_base.saturating_add(h.offset().0),
        _ => h.offset().0,
    }
}

fn die_error(offset: usize, e: gimli::Error) -> DwarfError {
    DwarfError::Die {
        offset,
        message: e.to_string(),
    }
}

impl<'a> Units<'a> {
    /// Reads every unit header of `.debug_info` and `.debug_types`; a header that does not
    /// parse is an error.
    pub fn new(dwarf: &'a Dwarf<'a>) -> Result<Units<'a>, DwarfError> {
        let types_base = dwarf.debug_info.reader().len();
        let mut units = Units {
            dwarf,
            headers: Vec::new(),
            signatures: HashMap::new(),
            cache: Vec::new(),
            types_base,
        };
        let mut info = dwarf.units();
        units.add_headers(0, || info.next())?;
        let mut types = dwarf.type_units();
        units.add_headers(types_base, || types.next())?;
        Ok(units)
    }

    fn add_headers(
        &mut self,
        base: usize,
        mut next: impl FnMut() -> gimli::Result<Option<UnitHeader<Slice<'a>>>>,
    ) -> Result<(), DwarfError> {
        let mut offset = base;
        loop {
            let h = match next() {
                Ok(Some(h)) => h,
                Ok(None) => return Ok(()),
                Err(e) => {
                    return Err(DwarfError::UnitHeader {
                        offset,
                        message: e.to_string(),
                    })
                }
            };
            let start = start_of(&h, self.types_base);
            offset = start.saturating_add(h.length_including_self());
            if let gimli::UnitType::Type {
                type_signature,
                type_offset,
            } = h.type_()
            {
                self.signatures
                    .entry(type_signature.0)
                    .or_insert(start.saturating_add(type_offset.0));
            }
            self.headers.push(h);
        }
    }

    pub fn dwarf(&self) -> &'a Dwarf<'a> {
        self.dwarf
    }

    /// The number of units.
    pub fn count(&self) -> usize {
        self.headers.len()
    }

    /// Unit `i`, in `.debug_info` order.
    pub fn load(&mut self, i: usize) -> Result<Option<Rc<Unit<'a>>>, DwarfError> {
        let Some(&h) = self.headers.get(i) else {
            return Ok(None);
        };
        let start = start_of(&h, self.types_base);
        if let Some(u) = self.cache.iter().find(|u| u.start == start) {
            return Ok(Some(u.clone()));
        }
        Ok(Some(self.remember(Unit::new(self.dwarf, h, start)?)))
    }

    fn remember(&mut self, unit: Unit<'a>) -> Rc<Unit<'a>> {
        if self.cache.len() >= CACHED_UNITS {
            self.cache.remove(0);
        }
        let unit = Rc::new(unit);
        self.cache.push(unit.clone());
        unit
    }

    /// The `.debug_info` offset of the type a type unit with this signature defines.
    pub fn signature(&self, sig: u64) -> Option<usize> {
        self.signatures.get(&sig).copied()
    }

    /// The unit holding the DIE at `offset`; `from` (the referring DIE) names the error.
    pub fn unit_of(&mut self, offset: usize, from: usize) -> Result<Rc<Unit<'a>>, DwarfError> {
        if let Some(u) = self.cache.iter().find(|u| u.contains(offset)) {
            return Ok(u.clone());
        }
        let bad = DwarfError::BadReference {
            offset: from,
            target: offset,
        };
        let i = self
            .headers
            .partition_point(|h| start_of(h, self.types_base) <= offset)
            .checked_sub(1)
            .ok_or(bad.clone())?;
        let h = *self.headers.get(i).ok_or(bad.clone())?;
        let end = start_of(&h, self.types_base).saturating_add(h.length_including_self());
        if offset < start_of(&h, self.types_base).saturating_add(h.header_size()) || offset >= end {
            return Err(bad);
        }
        let start = start_of(&h, self.types_base);
        Ok(self.remember(Unit::new(self.dwarf, h, start)?))
    }
}

impl<'a> Unit<'a> {
    fn new(
        dwarf: &Dwarf<'a>,
        header: UnitHeader<Slice<'a>>,
        start: usize,
    ) -> Result<Unit<'a>, DwarfError> {
        let abbrevs = dwarf
            .abbreviations(&header)
            .map_err(|e| DwarfError::Abbreviations {
                unit: start,
                abbrev: header.debug_abbrev_offset().0,
                message: e.to_string(),
            })?;
        let mut str_offsets_base = DebugStrOffsetsBase::default_for_encoding_and_file(
            header.encoding(),
            gimli::DwarfFileType::Main,
        );
        let root = header.root_offset();
        let entry = header
            .entry(&abbrevs, root)
            .map_err(|e| die_error(start.saturating_add(root.0), e))?;
        if let Some(gimli::AttributeValue::DebugStrOffsetsBase(b)) =
            entry.attr_value(dw::DW_AT_str_offsets_base)
        {
            str_offsets_base = b;
        }
        Ok(Unit {
            end: start.saturating_add(header.length_including_self()),
            start,
            header,
            abbrevs,
            str_offsets_base,
        })
    }

    /// Whether `offset` is a DIE offset inside this unit (past its header).
    pub fn contains(&self, offset: usize) -> bool {
        offset >= self.start.saturating_add(self.header.header_size()) && offset < self.end
    }

    fn unit_offset(&self, offset: usize) -> gimli::UnitOffset {
        gimli::UnitOffset(offset.saturating_sub(self.start))
    }

    /// The DIE at `offset`.
    pub fn die(&self, dwarf: &Dwarf<'a>, offset: usize) -> Result<Die, DwarfError> {
        let entry = self
            .header
            .entry(&self.abbrevs, self.unit_offset(offset))
            .map_err(|e| die_error(offset, e))?;
        self.read(dwarf, &entry)
    }

    /// The children of the DIE at `offset` (at most [`MAX_CHILDREN`]).
    pub fn children(&self, dwarf: &Dwarf<'a>, offset: usize) -> Result<Vec<Die>, DwarfError> {
        let mut out = Vec::new();
        let mut tree = self
            .header
            .entries_tree(&self.abbrevs, Some(self.unit_offset(offset)))
            .map_err(|e| die_error(offset, e))?;
        let root = tree.root().map_err(|e| die_error(offset, e))?;
        let mut iter = root.children();
        let mut last = offset;
        while out.len() < MAX_CHILDREN {
            let Some(child) = iter.next().map_err(|e| die_error(last, e))? else {
                break;
            };
            let die = self.read(dwarf, child.entry())?;
            last = die.offset;
            out.push(die);
        }
        Ok(out)
    }

    /// The type DIEs worth converting even when nothing refers to them: named types and
    /// anonymous enums, at the unit's top level and inside namespaces, functions and their
    /// blocks (pahole keeps types local to functions too). Other subtrees are skipped.
    pub fn types_to_convert(&self) -> Result<Vec<usize>, DwarfError> {
        let mut out = Vec::new();
        let mut tree = self
            .header
            .entries_tree(&self.abbrevs, None)
            .map_err(|e| die_error(self.start, e))?;
        let root = tree.root().map_err(|e| die_error(self.start, e))?;
        self.scan(root.children(), &mut out, 0)?;
        Ok(out)
    }

    fn scan(
        &self,
        mut iter: gimli::EntriesTreeIter<'_, '_, Slice<'a>>,
        out: &mut Vec<usize>,
        depth: usize,
    ) -> Result<(), DwarfError> {
        let mut last = self.start;
        while let Some(node) = iter.next().map_err(|e| die_error(last, e))? {
            let e = node.entry();
            last = self.start.saturating_add(e.offset().0);
            let named = e.attr(dw::DW_AT_name).is_some();
            match e.tag() {
                dw::DW_TAG_base_type
                | dw::DW_TAG_typedef
                | dw::DW_TAG_structure_type
                | dw::DW_TAG_class_type
                | dw::DW_TAG_union_type
                    if named =>
                {
                    out.push(last)
                }
                dw::DW_TAG_enumeration_type => out.push(last),
                dw::DW_TAG_namespace | dw::DW_TAG_subprogram | dw::DW_TAG_lexical_block
                    if depth < MAX_DEPTH && e.has_children() =>
                {
                    self.scan(node.children(), out, depth + 1)?
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn read(&self, dwarf: &Dwarf<'a>, entry: &Entry<'a>) -> Result<Die, DwarfError> {
        let offset = self.start.saturating_add(entry.offset().0);
        let mut die = Die::new(offset, entry.tag(), entry.has_children());
        let encoding = self.header.encoding();
        for attr in entry.attrs() {
            match attr.name() {
                dw::DW_AT_name => {
                    die.name = self
                        .string(dwarf, attr.raw_value())
                        .map_err(|e| die_error(offset, e))?;
                }
                dw::DW_AT_type => die.ty = self.reference(attr.raw_value()),
                dw::DW_AT_signature => die.signature = self.reference(attr.raw_value()),
                dw::DW_AT_encoding => die.set(attr.name(), &attr.value(), encoding),
                name => die.set(name, &attr.raw_value(), encoding),
            }
        }
        Ok(die)
    }

    fn reference(&self, v: gimli::AttributeValue<Slice<'a>>) -> Ref {
        match v {
            gimli::AttributeValue::UnitRef(o) => Ref::Die(self.start.saturating_add(o.0)),
            gimli::AttributeValue::DebugInfoRef(o) => Ref::Die(o.0),
            gimli::AttributeValue::DebugTypesRef(sig) => Ref::Signature(sig.0),
            _ => Ref::Unsupported,
        }
    }

    /// A name in any of DWARF's string forms (lossy UTF-8); `None` for forms that need a
    /// supplementary file.
    fn string(
        &self,
        dwarf: &Dwarf<'a>,
        v: gimli::AttributeValue<Slice<'a>>,
    ) -> Result<Option<String>, gimli::Error> {
        use gimli::AttributeValue as V;
        let s = match v {
            V::String(s) => s,
            V::DebugStrRef(o) => dwarf.debug_str.get_str(o)?,
            V::DebugLineStrRef(o) => dwarf.debug_line_str.get_str(o)?,
            V::DebugStrOffsetsIndex(i) => {
                let o = dwarf.debug_str_offsets.get_str_offset(
                    self.header.format(),
                    self.str_offsets_base,
                    i,
                )?;
                dwarf.debug_str.get_str(o)?
            }
            _ => return Ok(None),
        };
        Ok(Some(String::from_utf8_lossy(s.slice()).into_owned()))
    }
}
