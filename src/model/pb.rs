//! A small reader for the parts of the ONNX protobuf the compiled engine needs (model → graph →
//! nodes, attributes, initializers, input and output names). Hand-written instead of prost
//! types: it is a few hundred lines, has no dependency, and every length is checked against the
//! bytes that are really there before anything is allocated, so a 1 KB file declaring a 2^40
//! element tensor is an error, not an allocation failure.

use std::fmt;

/// Why a file does not decode.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

type R<T> = std::result::Result<T, DecodeError>;

fn err<T>(m: impl Into<String>) -> R<T> {
    Err(DecodeError(m.into()))
}

/// Element types (ONNX `TensorProto.DataType`).
pub mod dtype {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT8: i32 = 3;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
    pub const DOUBLE: i32 = 11;
}

/// An initializer or attribute tensor, with its data in whichever field the writer used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub dims: Vec<i64>,
    pub data_type: i32,
    pub raw: Vec<u8>,
    pub floats: Vec<f32>,
    pub int32s: Vec<i32>,
    pub int64s: Vec<i64>,
    pub doubles: Vec<f64>,
    /// The data lives in another file (`data_location = EXTERNAL`): not supported.
    pub external: bool,
}

/// A node attribute.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub f: f32,
    pub i: i64,
    pub s: Vec<u8>,
    pub t: Option<Tensor>,
    pub floats: Vec<f32>,
    pub ints: Vec<i64>,
    pub strings: Vec<Vec<u8>>,
}

/// A graph node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: Vec<Attribute>,
}

impl Node {
    pub fn attr(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// How errors name this node: its name, or its op and position.
    pub fn label(&self, index: usize) -> String {
        if self.name.is_empty() {
            format!("#{index} ({})", self.op_type)
        } else {
            format!("`{}` ({})", self.name, self.op_type)
        }
    }
}

/// The main graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub initializers: Vec<Tensor>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

/// A decoded model: its graph and the opsets it imports (`(domain, version)`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    pub graph: Graph,
    pub opsets: Vec<(String, i64)>,
}

enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> R<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else { return err("truncated varint") };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        err("varint longer than 10 bytes")
    }

    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let Some(end) = end else {
            return err(format!("a field of {n} bytes runs past the end of its message"));
        };
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next field, or `None` at the end.
    fn field(&mut self) -> R<Option<(u32, Wire<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| DecodeError("field number too large".into()))?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"))),
            2 => {
                let n = self.varint()?;
                let n = usize::try_from(n).map_err(|_| DecodeError("length too large".into()))?;
                Wire::Len(self.take(n)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"))),
            w => return err(format!("unsupported wire type {w}")),
        };
        Ok(Some((number, wire)))
    }
}

fn string(b: &[u8]) -> R<String> {
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError("a string is not UTF-8".into()))
}

/// A repeated integer field: packed (one length-delimited run) or one varint per element.
fn push_ints(out: &mut Vec<i64>, w: Wire<'_>) -> R<()> {
    match w {
        Wire::Varint(v) => out.push(v as i64),
        Wire::Len(b) => {
            let mut r = Reader::new(b);
            while r.pos < b.len() {
                out.push(r.varint()? as i64);
            }
        }
        _ => return err("an integer field has the wrong wire type"),
    }
    Ok(())
}

/// A repeated float field: packed or one fixed32 per element.
fn push_floats(out: &mut Vec<f32>, w: Wire<'_>) -> R<()> {
    match w {
        Wire::Fixed32(v) => out.push(f32::from_bits(v)),
        Wire::Len(b) if b.len() % 4 == 0 => {
            out.extend(b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))))
        }
        _ => return err("a float field has the wrong wire type or length"),
    }
    Ok(())
}

fn push_doubles(out: &mut Vec<f64>, w: Wire<'_>) -> R<()> {
    match w {
        Wire::Fixed64(v) => out.push(f64::from_bits(v)),
        Wire::Len(b) if b.len() % 8 == 0 => {
            out.extend(b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))))
        }
        _ => return err("a double field has the wrong wire type or length"),
    }
    Ok(())
}

fn len<'a>(w: Wire<'a>, what: &str) -> R<&'a [u8]> {
    match w {
        Wire::Len(b) => Ok(b),
        _ => err(format!("{what} has the wrong wire type")),
    }
}

fn int(w: Wire<'_>, what: &str) -> R<i64> {
    match w {
        Wire::Varint(v) => Ok(v as i64),
        _ => err(format!("{what} has the wrong wire type")),
    }
}

fn tensor(b: &[u8]) -> R<Tensor> {
    let mut t = Tensor::default();
    let mut r = Reader::new(b);
    while let Some((n, w)) = r.field()? {
        match n {
            1 => push_ints(&mut t.dims, w)?,
            2 => t.data_type = int(w, "data_type")? as i32,
            4 => push_floats(&mut t.floats, w)?,
            5 => {
                let mut v = Vec::new();
                push_ints(&mut v, w)?;
                t.int32s.extend(v.into_iter().map(|x| x as i32));
            }
            7 => push_ints(&mut t.int64s, w)?,
            8 => t.name = string(len(w, "a tensor name")?)?,
            9 => t.raw = len(w, "raw_data")?.to_vec(),
            10 => push_doubles(&mut t.doubles, w)?,
            14 => t.external = int(w, "data_location")? == 1,
            _ => {}
        }
    }
    Ok(t)
}

fn attribute(b: &[u8]) -> R<Attribute> {
    let mut a = Attribute::default();
    let mut r = Reader::new(b);
    while let Some((n, w)) = r.field()? {
        match n {
            1 => a.name = string(len(w, "an attribute name")?)?,
            2 => match w {
                Wire::Fixed32(v) => a.f = f32::from_bits(v),
                _ => return err("attribute `f` has the wrong wire type"),
            },
            3 => a.i = int(w, "attribute `i`")?,
            4 => a.s = len(w, "attribute `s`")?.to_vec(),
            5 => a.t = Some(tensor(len(w, "attribute `t`")?)?),
            7 => push_floats(&mut a.floats, w)?,
            8 => push_ints(&mut a.ints, w)?,
            9 => a.strings.push(len(w, "attribute `strings`")?.to_vec()),
            _ => {}
        }
    }
    Ok(a)
}

fn node(b: &[u8]) -> R<Node> {
    let mut nd = Node::default();
    let mut r = Reader::new(b);
    while let Some((n, w)) = r.field()? {
        match n {
            1 => nd.inputs.push(string(len(w, "a node input")?)?),
            2 => nd.outputs.push(string(len(w, "a node output")?)?),
            3 => nd.name = string(len(w, "a node name")?)?,
            4 => nd.op_type = string(len(w, "op_type")?)?,
            5 => nd.attributes.push(attribute(len(w, "an attribute")?)?),
            7 => nd.domain = string(len(w, "a node domain")?)?,
            _ => {}
        }
    }
    Ok(nd)
}

/// The `name` of a ValueInfoProto.
fn value_name(b: &[u8]) -> R<String> {
    let mut r = Reader::new(b);
    let mut name = String::new();
    while let Some((n, w)) = r.field()? {
        if n == 1 {
            name = string(len(w, "a value name")?)?;
        }
    }
    Ok(name)
}

fn graph(b: &[u8]) -> R<Graph> {
    let mut g = Graph::default();
    let mut r = Reader::new(b);
    while let Some((n, w)) = r.field()? {
        match n {
            1 => g.nodes.push(node(len(w, "a node")?)?),
            5 => g.initializers.push(tensor(len(w, "an initializer")?)?),
            11 => g.inputs.push(value_name(len(w, "a graph input")?)?),
            12 => g.outputs.push(value_name(len(w, "a graph output")?)?),
            _ => {}
        }
    }
    Ok(g)
}

/// Decodes an ONNX `ModelProto`.
pub fn decode(bytes: &[u8]) -> R<Model> {
    let mut m = Model::default();
    let mut r = Reader::new(bytes);
    let mut has_graph = false;
    while let Some((n, w)) = r.field()? {
        match n {
            7 => {
                // A message field given twice is merged, as protobuf readers do.
                let g = graph(len(w, "the graph")?)?;
                m.graph.nodes.extend(g.nodes);
                m.graph.initializers.extend(g.initializers);
                m.graph.inputs.extend(g.inputs);
                m.graph.outputs.extend(g.outputs);
                has_graph = true;
            }
            8 => {
                let mut o = Reader::new(len(w, "an opset import")?);
                let (mut domain, mut version) = (String::new(), 0);
                while let Some((n, w)) = o.field()? {
                    match n {
                        1 => domain = string(len(w, "an opset domain")?)?,
                        2 => version = int(w, "an opset version")?,
                        _ => {}
                    }
                }
                m.opsets.push((domain, version));
            }
            _ => {}
        }
    }
    if !has_graph {
        return err("the file has no graph (is it an ONNX model?)");
    }
    Ok(m)
}
