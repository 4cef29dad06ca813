//! A bounded first pass over a pickle's opcodes, run before the pickle is decoded.
//!
//! The decoder copies a memoised value out at every reference to it and recurses once per
//! level of nesting. A small file can therefore ask for a value far larger or deeper than
//! itself: a hundred thousand nested lists overflow the stack, and forty lists that each
//! hold two references to the one before expand to 2⁴⁰ items. This pass reads the opcodes
//! without building any value. It records which object every stack slot, memo entry and
//! container holds (so a reference is an edge, not a copy), then measures from the root:
//!
//! * depth: the longest chain of containers;
//! * expanded size: the bytes of every string and buffer plus one per other object,
//!   counted once per path from the root, which is what copying references out produces.
//!
//! A file whose depth or expanded size passes its limit, that refers to itself, or whose
//! opcodes do not form a pickle, is refused with the reason and the byte offset. The pass
//! itself allocates at most a few words per opcode of the file.

use std::collections::HashMap;

/// The deepest nesting accepted. The batches this crate reads nest six levels deep.
pub(crate) const MAX_DEPTH: u32 = 64;

/// Object ids are indexes into the object table.
type Id = u32;

/// The opcodes' objects and the edges between them.
#[derive(Default)]
struct Graph {
    /// Own weight of each object: payload bytes, at least 1.
    weight: Vec<u64>,
    /// `(container, item)` pairs.
    edges: Vec<(Id, Id)>,
}

impl Graph {
    fn object(&mut self, weight: usize) -> Id {
        self.weight.push((weight as u64).max(1));
        (self.weight.len() - 1) as Id
    }
}

/// The interpreter's state: stack, marks, memo and position.
struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Offset of the opcode being run, for errors.
    op_at: usize,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
    graph: Graph,
}

/// Checks that `bytes` is a pickle whose value nests at most [`MAX_DEPTH`] levels and
/// expands to at most `max_size` bytes; the error says what is wrong and where.
pub(crate) fn check(bytes: &[u8], max_size: u64) -> Result<(), String> {
    let mut scan = Scan {
        bytes,
        at: 0,
        op_at: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        graph: Graph::default(),
    };
    let root = scan.run()?;
    measure(&scan.graph, root, max_size)
}

impl<'a> Scan<'a> {
    /// Runs opcodes up to `STOP`; returns the object left on top.
    fn run(&mut self) -> Result<Id, String> {
        loop {
            self.op_at = self.at;
            let op = self.take(1)?[0];
            if op == b'.' {
                return self
                    .stack
                    .last()
                    .copied()
                    .ok_or_else(|| self.fail("STOP on an empty stack"));
            }
            self.step(op)?;
        }
    }

    fn fail(&self, what: &str) -> String {
        format!("{what} at byte {}", self.op_at)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "the pickle ends inside the opcode at byte {} (no STOP opcode)",
                self.op_at
            ));
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        let raw = self.take(n)?;
        Ok(raw
            .iter()
            .rev()
            .fold(0, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn line(&mut self) -> Result<&'a [u8], String> {
        let rest = &self.bytes[self.at..];
        let Some(len) = rest.iter().position(|&b| b == b'\n') else {
            return Err(self.fail("a text argument without its end of line"));
        };
        self.at += len + 1;
        Ok(&rest[..len])
    }

    /// Skips a payload whose length is a little-endian integer of `n` bytes.
    fn counted(&mut self, n: usize) -> Result<usize, String> {
        let len = self.uint(n)?;
        let len = usize::try_from(len).map_err(|_| self.fail("an impossible length"))?;
        self.take(len)?;
        Ok(len)
    }

    fn push(&mut self, weight: usize) {
        let id = self.graph.object(weight);
        self.stack.push(id);
    }

    fn pop(&mut self) -> Result<Id, String> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.fail("stack underflow"));
        }
        Ok(self.stack.pop().expect("checked above"))
    }

    fn top(&self) -> Result<Id, String> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.fail("stack underflow"));
        }
        Ok(self.stack[self.stack.len() - 1])
    }

    fn pop_mark(&mut self) -> Result<Vec<Id>, String> {
        let Some(mark) = self.marks.pop() else {
            return Err(self.fail("no MARK to pop to"));
        };
        Ok(self.stack.split_off(mark))
    }

    /// A new object holding `items`.
    fn build(&mut self, items: &[Id]) {
        let id = self.graph.object(1);
        self.graph
            .edges
            .extend(items.iter().map(|&item| (id, item)));
        self.stack.push(id);
    }

    /// Adds `items` to the container on top of the stack.
    fn extend_top(&mut self, items: &[Id]) -> Result<(), String> {
        let top = self.top()?;
        self.graph
            .edges
            .extend(items.iter().map(|&item| (top, item)));
        Ok(())
    }

    fn pop_n(&mut self, n: usize) -> Result<Vec<Id>, String> {
        let mut items = (0..n).map(|_| self.pop()).collect::<Result<Vec<_>, _>>()?;
        items.reverse();
        Ok(items)
    }

    fn memo_get(&mut self, key: u64) -> Result<(), String> {
        let Some(&id) = self.memo.get(&key) else {
            return Err(self.fail(&format!("a reference to memo entry {key}, never stored")));
        };
        self.stack.push(id);
        Ok(())
    }

    fn memo_put(&mut self, key: u64) -> Result<(), String> {
        let top = self.top()?;
        self.memo.insert(key, top);
        Ok(())
    }

    fn decimal(&mut self) -> Result<u64, String> {
        let line = self.line()?;
        std::str::from_utf8(line)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| self.fail("a memo index that is not a number"))
    }

    /// Runs one opcode other than `STOP`.
    fn step(&mut self, op: u8) -> Result<(), String> {
        match op {
            b'(' => self.marks.push(self.stack.len()),
            b'0' => {
                if self.marks.last() == Some(&self.stack.len()) {
                    self.marks.pop();
                } else {
                    self.pop()?;
                }
            }
            b'1' => drop(self.pop_mark()?),
            b'2' => {
                let top = self.top()?;
                self.stack.push(top);
            }
            b'F' | b'I' | b'L' | b'S' | b'V' | b'P' => {
                let len = self.line()?.len();
                self.push(len);
            }
            b'c' => {
                let len = self.line()?.len() + self.line()?.len();
                self.push(len);
            }
            b'K' | 0x82 => self.scalar(1)?,
            b'M' | 0x83 => self.scalar(2)?,
            b'J' | 0x84 => self.scalar(4)?,
            b'G' => self.scalar(8)?,
            b'N' | 0x88 | 0x89 | 0x97 => self.push(1),
            b'U' | b'C' | 0x8c | 0x8a => self.payload(1)?,
            b'T' | b'X' | b'B' | 0x8b => self.payload(4)?,
            0x8d | 0x8e | 0x96 => self.payload(8)?,
            0x80 => drop(self.take(1)?),
            0x95 => drop(self.take(8)?),
            0x98 => drop(self.top()?),
            _ => self.structural(op)?,
        }
        Ok(())
    }

    fn scalar(&mut self, n: usize) -> Result<(), String> {
        self.take(n)?;
        self.push(n);
        Ok(())
    }

    fn payload(&mut self, n: usize) -> Result<(), String> {
        let len = self.counted(n)?;
        self.push(len);
        Ok(())
    }

    /// Opcodes that build, fill or reference containers and objects.
    fn structural(&mut self, op: u8) -> Result<(), String> {
        match op {
            // The decoder sorts a set's items and panics when they have no total order
            // (a NaN among floats); a batch never holds a set, so none is read.
            0x8f..=0x91 => return Err(self.fail("a set, which a batch never holds,")),
            b']' | b'}' | b')' => self.push(1),
            b'l' | b'd' | b't' | b'o' => {
                let items = self.pop_mark()?;
                self.build(&items);
            }
            b'i' => {
                self.line()?;
                self.line()?;
                let items = self.pop_mark()?;
                self.build(&items);
            }
            0x85..=0x87 => {
                let items = self.pop_n(usize::from(op - 0x84))?;
                self.build(&items);
            }
            b'R' | 0x81 | 0x93 | b'Q' => {
                let n = if op == b'Q' { 1 } else { 2 };
                let items = self.pop_n(n)?;
                self.build(&items);
            }
            0x92 => {
                let items = self.pop_n(3)?;
                self.build(&items);
            }
            b'a' | b'b' => {
                let item = self.pop()?;
                self.extend_top(&[item])?;
            }
            b's' => {
                let items = self.pop_n(2)?;
                self.extend_top(&items)?;
            }
            b'e' | b'u' => {
                let items = self.pop_mark()?;
                self.extend_top(&items)?;
            }
            b'g' => {
                let key = self.decimal()?;
                self.memo_get(key)?;
            }
            b'h' | b'j' => {
                let key = self.uint(if op == b'h' { 1 } else { 4 })?;
                self.memo_get(key)?;
            }
            b'p' => {
                let key = self.decimal()?;
                self.memo_put(key)?;
            }
            b'q' | b'r' => {
                let key = self.uint(if op == b'q' { 1 } else { 4 })?;
                self.memo_put(key)?;
            }
            0x94 => {
                let key = self.memo.len() as u64;
                self.memo_put(key)?;
            }
            _ => return Err(self.fail(&format!("unknown opcode 0x{op:02x}"))),
        }
        Ok(())
    }
}

fn too_deep() -> String {
    format!("its value nests more than {MAX_DEPTH} levels deep; the batches this reads nest a few")
}

/// Depth and expanded size of the value under `root`, without recursion.
fn measure(graph: &Graph, root: Id, max_size: u64) -> Result<(), String> {
    let n = graph.weight.len();
    // Items of each object, in compressed-row form.
    let mut start = vec![0usize; n + 1];
    for &(from, _) in &graph.edges {
        start[from as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut items = vec![0 as Id; graph.edges.len()];
    for &(from, to) in &graph.edges {
        items[fill[from as usize]] = to;
        fill[from as usize] += 1;
    }
    // 0: not seen, 1: on the path, 2: done.
    let mut state = vec![0u8; n];
    let mut depth = vec![0u32; n];
    let mut size = vec![0u64; n];
    let mut path: Vec<(Id, usize)> = vec![(root, start[root as usize])];
    state[root as usize] = 1;
    while let Some(&mut (node, ref mut next)) = path.last_mut() {
        let node = node as usize;
        if *next < start[node + 1] {
            let child = items[*next] as usize;
            *next += 1;
            match state[child] {
                0 => {
                    if path.len() >= MAX_DEPTH as usize {
                        return Err(too_deep());
                    }
                    state[child] = 1;
                    path.push((child as Id, start[child]));
                }
                1 => return Err("its value contains itself (a recursive structure)".into()),
                _ => {}
            }
            continue;
        }
        path.pop();
        state[node] = 2;
        let children = &items[start[node]..start[node + 1]];
        depth[node] = 1 + children
            .iter()
            .map(|&c| depth[c as usize])
            .max()
            .unwrap_or(0);
        if depth[node] as usize + path.len() > MAX_DEPTH as usize {
            return Err(too_deep());
        }
        size[node] = children.iter().fold(graph.weight[node], |acc, &c| {
            acc.saturating_add(size[c as usize])
        });
        if size[node] > max_size {
            return Err(format!(
                "its value would expand to more than {max_size} bytes once its shared \
                 references are copied out"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 1 << 20;

    #[test]
    fn deep_nesting_is_refused_before_decoding() {
        let levels = 100_000;
        let mut pickle = vec![0x80, 2];
        pickle.extend(std::iter::repeat_n(b']', levels));
        pickle.extend(std::iter::repeat_n(b'a', levels - 1));
        pickle.push(b'.');
        let err = check(&pickle, LIMIT).expect_err("refused");
        assert!(err.contains("nests more than 64 levels"), "{err}");
        // Sixty levels are fine.
        let mut ok = vec![0x80, 2];
        ok.extend(std::iter::repeat_n(b']', 60));
        ok.extend(std::iter::repeat_n(b'a', 59));
        ok.push(b'.');
        check(&ok, LIMIT).expect("60 levels pass");
    }

    /// Forty lists, each holding the previous one twice, through the memo.
    fn doubling(levels: u8) -> Vec<u8> {
        let mut pickle = vec![0x80, 2, b']', b'q', 0];
        for level in 1..levels {
            pickle.extend([b'(', b'h', level - 1, b'h', level - 1, b'l', b'q', level]);
        }
        pickle.push(b'.');
        pickle
    }

    #[test]
    fn shared_references_are_counted_as_copies() {
        let err = check(&doubling(40), LIMIT).expect_err("refused");
        assert!(err.contains("expand to more than"), "{err}");
        check(&doubling(10), LIMIT).expect("about a thousand items pass");
    }

    #[test]
    fn a_list_that_contains_itself_is_refused() {
        let pickle = [0x80, 2, b']', b'q', 0, b'h', 0, b'a', b'.'];
        let err = check(&pickle, LIMIT).expect_err("refused");
        assert!(err.contains("contains itself"), "{err}");
    }

    #[test]
    fn malformed_opcode_streams_are_refused_with_the_offset() {
        for (pickle, expected) in [
            (&[0x80, 2, b'a', b'.'][..], "stack underflow at byte 2"),
            (
                &[0x80, 2, b']', b'h', 3, b'.'],
                "memo entry 3, never stored",
            ),
            (
                &[0x80, 2, b'X', 9, 0, 0, 0, b'a'],
                "ends inside the opcode at byte 2",
            ),
            (&[0x80, 2, b']'], "ends inside the opcode at byte 3"),
            (&[0x80, 2, 0xff, b'.'], "unknown opcode 0xff at byte 2"),
            (&[0x80, 2, b'e', b'.'], "no MARK to pop to at byte 2"),
        ] {
            let err = check(pickle, LIMIT).expect_err("refused");
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn a_dict_of_a_byte_buffer_and_a_list_passes() {
        // {'data': b'\x01\x02\x03', 'labels': [1, 2, 3]}, protocol 3 by hand.
        let mut pickle = vec![0x80, 3, b'}', b'q', 0, b'(', 0x8c, 4];
        pickle.extend(b"data");
        pickle.extend([b'C', 3, 1, 2, 3, 0x8c, 6]);
        pickle.extend(b"labels");
        pickle.extend([b']', b'(', b'K', 1, b'K', 2, b'K', 3, b'e', b'u', b'.']);
        check(&pickle, LIMIT).expect("passes");
        let err = check(&pickle, 8).expect_err("an 8-byte budget is too small");
        assert!(err.contains("more than 8 bytes"), "{err}");
    }
}
