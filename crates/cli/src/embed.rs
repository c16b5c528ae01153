//! `scorelet build` without a compiler: embeds a packed bundle into a scoring component.
//!
//! The guest (`crates/guest`) carries an embed slot: [`EMBED_MAGIC`] followed by a pointer and a
//! length, both zero. This module finds the one core module whose data holds the slot, appends
//! the packed bundle as a new active data segment at the old end of its memory (growing the
//! memory's initial size to hold it), and writes the segment's address and length into the slot.
//! Everything else is copied byte for byte. The allocator's heap ends at the linker's
//! `__heap_end` (the old initial size) and grows with `memory.grow` past the current size, so it
//! never hands out the pages the bundle occupies.
//!
//! Hand-written on top of wasmparser (already linked by wasmtime) rather than a re-encoder: the
//! change touches three sections, and copying the rest verbatim keeps the component identical
//! but for them.

use anyhow::{Context, Result, bail, ensure};
use scorelet::bundle::packed::EMBED_MAGIC;
use wasmparser::{DataKind, Imports, Operator, Parser, Payload, TypeRef};

const PAGE: u64 = 65536;
/// Component-level section ids: core module and nested component.
const CORE_MODULE: u8 = 1;
const COMPONENT: u8 = 4;
/// Core section ids.
const MEMORY: u8 = 5;
const DATA: u8 = 11;
const DATA_COUNT: u8 = 12;

/// The component with `packed` (see `scorelet::bundle::packed`) embedded in its slot.
pub fn embed_bundle(component: &[u8], packed: &[u8]) -> Result<Vec<u8>> {
    ensure!(!packed.is_empty(), "nothing to embed");
    ensure!(component.len() >= 8 && &component[..4] == b"\0asm", "not a WebAssembly file");
    let mut done = false;
    let out = rewrite_component(component, packed, &mut done)?;
    ensure!(done, "this component has no embed slot: it is not a scorelet scoring component");
    Ok(out)
}

fn rewrite_component(bytes: &[u8], packed: &[u8], done: &mut bool) -> Result<Vec<u8>> {
    let mut out = bytes[..8].to_vec();
    let mut pos = 8;
    while pos < bytes.len() {
        let id = bytes[pos];
        let (size, n) = read_leb(&bytes[pos + 1..]).context("a section size is malformed")?;
        let start = pos + 1 + n;
        let end = start.checked_add(size as usize).filter(|&e| e <= bytes.len()).context("a section is cut short")?;
        let payload = &bytes[start..end];
        let replaced = match id {
            CORE_MODULE if !*done && !find_all(payload, EMBED_MAGIC).is_empty() => {
                *done = true;
                Some(rewrite_module(payload, packed)?)
            }
            COMPONENT if !*done => {
                let inner = rewrite_component(payload, packed, done)?;
                (inner != payload).then_some(inner)
            }
            _ => None,
        };
        match replaced {
            Some(p) => section(&mut out, id, &p),
            None => out.extend_from_slice(&bytes[pos..end]),
        }
        pos = end;
    }
    Ok(out)
}

fn rewrite_module(module: &[u8], packed: &[u8]) -> Result<Vec<u8>> {
    let mut memory: Option<(std::ops::Range<usize>, wasmparser::MemoryType)> = None;
    let mut data: Option<(std::ops::Range<usize>, u32)> = None;
    let mut data_count: Option<std::ops::Range<usize>> = None;
    let mut slot: Option<usize> = None;
    for payload in Parser::new(0).parse_all(module) {
        match payload.context("the component's core module does not parse")? {
            Payload::ImportSection(r) => {
                for group in r {
                    let imported_memory = match group? {
                        Imports::Single(_, i) => matches!(i.ty, TypeRef::Memory(_)),
                        Imports::Compact1 { items, .. } => {
                            items.into_iter().any(|i| i.is_ok_and(|i| matches!(i.ty, TypeRef::Memory(_))))
                        }
                        Imports::Compact2 { ty, .. } => matches!(ty, TypeRef::Memory(_)),
                    };
                    ensure!(!imported_memory, "the module with the embed slot imports its memory");
                }
            }
            Payload::MemorySection(r) => {
                let range = r.range();
                let first = r.into_iter().next().context("the memory section is empty")??;
                memory = Some((range, first));
            }
            Payload::DataCountSection { range, .. } => data_count = Some(range),
            Payload::DataSection(r) => {
                let (range, count) = (r.range(), r.count());
                for d in r {
                    let d = d?;
                    let DataKind::Active { memory_index: 0, offset_expr } = d.kind else { continue };
                    let Some(at) = find_all(d.data, EMBED_MAGIC).first().copied() else { continue };
                    ensure!(slot.is_none(), "the module has more than one embed slot");
                    let mut ops = offset_expr.get_operators_reader();
                    let Operator::I32Const { value: base } = ops.read()? else {
                        bail!("the embed slot's data segment has a non-constant address");
                    };
                    let tail = d.data.get(at + 24..at + 32).context("the embed slot is cut short")?;
                    ensure!(tail == [0u8; 8], "this component already has an embedded bundle");
                    // Offset of the slot's pointer field within `module`.
                    let data_start = d.data.as_ptr() as usize - module.as_ptr() as usize;
                    slot = Some(data_start + at + 24);
                    let _ = base;
                }
                data = Some((range, count));
            }
            _ => {}
        }
    }
    let (mem_range, mem) = memory.context("the module with the embed slot defines no memory")?;
    let (data_range, count) = data.context("the module has no data section")?;
    let slot = slot.context("the embed slot is not in an active data segment")?;
    ensure!(!mem.memory64 && !mem.shared && mem.page_size_log2.is_none(), "unsupported memory type");

    let address = mem.initial * PAGE;
    let pages = (packed.len() as u64).div_ceil(PAGE);
    let initial = mem.initial + pages;
    ensure!(address + packed.len() as u64 <= i32::MAX as u64, "the bundle does not fit in a 32-bit memory");
    if let Some(max) = mem.maximum {
        ensure!(initial <= max, "the component's memory is capped at {max} pages; the bundle needs {initial}");
    }

    // The slot: address and length, little-endian.
    let mut module = module.to_vec();
    module[slot..slot + 4].copy_from_slice(&(address as u32).to_le_bytes());
    module[slot + 4..slot + 8].copy_from_slice(&(packed.len() as u32).to_le_bytes());

    // Memory section: the first memory grows; any others are copied as they were.
    let mem_body = &module[mem_range.clone()];
    let (n_mems, n) = read_leb(mem_body).context("memory section")?;
    let first_len = memtype_len(&mem_body[n..]).context("memory section")?;
    let mut new_mem = Vec::new();
    leb(&mut new_mem, n_mems);
    new_mem.push(if mem.maximum.is_some() { 1 } else { 0 });
    leb(&mut new_mem, initial);
    if let Some(max) = mem.maximum {
        leb(&mut new_mem, max);
    }
    new_mem.extend_from_slice(&mem_body[n + first_len..]);

    // Data section: one more segment, `i32.const address` in memory 0.
    let data_body = &module[data_range.clone()];
    let (_, n) = read_leb(data_body).context("data section")?;
    let mut new_data = Vec::with_capacity(data_body.len() + packed.len() + 16);
    leb(&mut new_data, count as u64 + 1);
    new_data.extend_from_slice(&data_body[n..]);
    new_data.push(0x00);
    new_data.push(0x41);
    sleb32(&mut new_data, address as u32 as i32);
    new_data.push(0x0b);
    leb(&mut new_data, packed.len() as u64);
    new_data.extend_from_slice(packed);

    let mut new_count = Vec::new();
    leb(&mut new_count, count as u64 + 1);

    // Re-emit the module: sections whose bodies changed are re-framed, the rest copied.
    let mut out = module[..8].to_vec();
    let mut pos = 8;
    while pos < module.len() {
        let id = module[pos];
        let (size, n) = read_leb(&module[pos + 1..]).context("a section size is malformed")?;
        let start = pos + 1 + n;
        let end = start + size as usize;
        let body = start..end;
        match id {
            MEMORY if body == mem_range => section(&mut out, id, &new_mem),
            DATA if body == data_range => section(&mut out, id, &new_data),
            DATA_COUNT if Some(&body) == data_count.as_ref() => section(&mut out, id, &new_count),
            _ => out.extend_from_slice(&module[pos..end]),
        }
        pos = end;
    }
    Ok(out)
}

fn section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
    out.push(id);
    leb(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// Length of an encoded 32-bit memory type (flags, min, optional max).
fn memtype_len(b: &[u8]) -> Option<usize> {
    let flags = *b.first()?;
    let (_, a) = read_leb(&b[1..])?;
    let mut len = 1 + a;
    if flags & 1 != 0 {
        let (_, c) = read_leb(&b[len..])?;
        len += c;
    }
    Some(len)
}

fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len()).enumerate().filter(|(_, w)| *w == needle).map(|(i, _)| i).collect()
}

fn read_leb(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn sleb32(out: &mut Vec<u8>, mut v: i32) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0);
        out.push(if done { b } else { b | 0x80 });
        if done {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb_round_trips() {
        for v in [0u64, 1, 127, 128, 300, 65535, 1 << 32] {
            let mut b = Vec::new();
            leb(&mut b, v);
            assert_eq!(read_leb(&b), Some((v, b.len())));
        }
        let mut b = Vec::new();
        sleb32(&mut b, 1 << 20);
        assert_eq!(b, [0x80, 0x80, 0xc0, 0x00]);
    }

    #[test]
    fn refuses_what_is_not_a_scoring_component() {
        assert!(embed_bundle(b"not wasm at all", b"x").is_err());
        // A valid empty module: no slot.
        let empty = b"\0asm\x01\0\0\0";
        let e = embed_bundle(empty, b"x").unwrap_err();
        assert!(e.to_string().contains("no embed slot"), "{e}");
        // A section size past the end.
        let cut = b"\0asm\x0d\0\x01\0\x01\xff\x01";
        assert!(embed_bundle(cut, b"x").is_err());
    }
}
