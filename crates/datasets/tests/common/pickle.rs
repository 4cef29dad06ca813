//! Writes downsampled-ImageNet batches byte for byte as numpy and CPython write them.
//!
//! `numpy_protocol3` emits exactly what `pickle.dump({"data": a, "labels": l}, f, 3)` writes
//! for a C-ordered `uint8` array `a` under numpy 2 (`tests/imagenet16.rs` checks this against
//! `fixtures/imagenet16/pitfalls_proto3.pkl`, made by numpy). `python2_protocol2` follows
//! the same opcodes as Python 2's pickler writes them (byte strings, `numpy.core`), crafted
//! by hand because no Python 2 is available to write one.

/// Appends the pickle opcode for a non-negative or small int, as CPython chooses it.
fn int(out: &mut Vec<u8>, v: i64) {
    if (0..=0xff).contains(&v) {
        out.extend([b'K', v as u8]);
    } else if (0..=0xffff).contains(&v) {
        out.push(b'M');
        out.extend((v as u16).to_le_bytes());
    } else {
        out.push(b'J');
        out.extend((v as i32).to_le_bytes());
    }
}

/// BINPUT (memo) with a running counter.
fn memo(out: &mut Vec<u8>, next: &mut u32) {
    if *next < 256 {
        out.extend([b'q', *next as u8]);
    } else {
        out.push(b'r');
        out.extend(next.to_le_bytes());
    }
    *next += 1;
}

/// A text string (BINUNICODE) or, for Python 2, a byte string (SHORT_BINSTRING / BINSTRING).
fn text(out: &mut Vec<u8>, s: &[u8], py2: bool) {
    match (py2, s.len() < 256) {
        (true, true) => out.extend([b'U', s.len() as u8]),
        (true, false) => {
            out.push(b'T');
            out.extend((s.len() as u32).to_le_bytes());
        }
        (false, _) => {
            out.push(b'X');
            out.extend((s.len() as u32).to_le_bytes());
        }
    }
    out.extend(s);
}

/// A byte buffer: SHORT_BINBYTES / BINBYTES (Python 3) or a byte string (Python 2).
fn bytes(out: &mut Vec<u8>, b: &[u8], py2: bool) {
    if py2 {
        return text(out, b, true);
    }
    if b.len() < 256 {
        out.extend([b'C', b.len() as u8]);
    } else {
        out.push(b'B');
        out.extend((b.len() as u32).to_le_bytes());
    }
    out.extend(b);
}

fn numpy_pickle(data: &[u8], rows: usize, cols: usize, labels: &[i64], py2: bool) -> Vec<u8> {
    let (core, m) = if py2 {
        (&b"numpy.core.multiarray"[..], &mut 0u32)
    } else {
        (&b"numpy._core.multiarray"[..], &mut 0u32)
    };
    let mut o = vec![0x80, if py2 { 2 } else { 3 }, b'}'];
    memo(&mut o, m);
    o.push(b'(');
    text(&mut o, b"data", py2);
    memo(&mut o, m);
    o.push(b'c');
    o.extend(core);
    o.extend(b"\n_reconstruct\n");
    memo(&mut o, m);
    o.extend(b"cnumpy\nndarray\n");
    memo(&mut o, m);
    o.extend([b'K', 0, 0x85]);
    memo(&mut o, m);
    bytes(&mut o, b"b", py2);
    memo(&mut o, m);
    o.push(0x87);
    memo(&mut o, m);
    o.push(b'R');
    memo(&mut o, m);
    o.push(b'(');
    int(&mut o, 1);
    int(&mut o, rows as i64);
    int(&mut o, cols as i64);
    o.push(0x86);
    memo(&mut o, m);
    o.extend(b"cnumpy\ndtype\n");
    memo(&mut o, m);
    text(&mut o, b"u1", py2);
    memo(&mut o, m);
    o.extend([0x89, 0x88, 0x87]);
    memo(&mut o, m);
    o.push(b'R');
    memo(&mut o, m);
    o.extend([b'(', b'K', 3]);
    text(&mut o, b"|", py2);
    memo(&mut o, m);
    o.extend(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t");
    memo(&mut o, m);
    o.extend([b'b', 0x89]);
    bytes(&mut o, data, py2);
    memo(&mut o, m);
    o.push(b't');
    memo(&mut o, m);
    o.push(b'b');
    text(&mut o, b"labels", py2);
    memo(&mut o, m);
    o.push(b']');
    memo(&mut o, m);
    // CPython appends list items in batches of 1000; a batch of one is a single APPEND.
    for batch in labels.chunks(1000) {
        if batch.len() == 1 {
            int(&mut o, batch[0]);
            o.push(b'a');
        } else {
            o.push(b'(');
            batch.iter().for_each(|&l| int(&mut o, l));
            o.push(b'e');
        }
    }
    o.extend(b"u.");
    o
}

/// `pickle.dump({"data": data.reshape(rows, cols), "labels": labels}, f, protocol=3)`.
pub fn numpy_protocol3(data: &[u8], rows: usize, cols: usize, labels: &[i64]) -> Vec<u8> {
    numpy_pickle(data, rows, cols, labels, false)
}

/// The same dict as Python 2's `cPickle.dump(d, f, 2)` writes it.
pub fn python2_protocol2(data: &[u8], rows: usize, cols: usize, labels: &[i64]) -> Vec<u8> {
    numpy_pickle(data, rows, cols, labels, true)
}
