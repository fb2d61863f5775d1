//! How a partition stores its lines until they are grouped: runs of lines
//! that share a customer, purchase, day, channel and region, and each line's own
//! values (amount, quantity, category) by column — 4 to 10 bytes a line plus its
//! share of a 32-byte run.

use crate::date::Day;
use crate::history::NONE_CODE;

/// Marker in byte 15 of a line's id key: the id is longer than 15 bytes and
/// lives in the partition's byte arena (offset in bits 0..64, length in 64..96).
pub(super) const LONG_TAG: u8 = 0xFF;

/// One line being grouped (32 bytes; its customer is known by where it is),
/// put together from its [`Run`] and its own values in the partition's columns.
#[derive(Clone, Copy)]
pub(super) struct PLine {
    /// The purchase key: a hash of (order id, day), or the day without an order id.
    pub(super) key: u64,
    /// Value; returns are stored negative (-0.0 for a cancelled zero line).
    pub(super) amount: f64,
    pub(super) day: Day,
    /// Quantity as f32 (NaN = unknown): 4 bytes is plenty for counts.
    pub(super) qty: f32,
    pub(super) channel: u16,
    pub(super) category: u16,
    pub(super) region: u16,
}

const _: () = assert!(std::mem::size_of::<PLine>() == 32);

/// Consecutive lines of one partition with the same customer, purchase key,
/// day, channel and region (the lines of one order, as logs write them): what
/// they share is stored once. 32 bytes.
#[derive(Clone, Copy, Default)]
pub(super) struct Run {
    /// The customer id ([`inline_key`], or [`LONG_TAG`] and a place in the
    /// arena) as two words, so a run needs 8-byte alignment only.
    pub(super) id: [u64; 2],
    pub(super) key: u64,
    /// The day (as days after [`FIRST_DAY`]) in the high 22 bits, the number of
    /// lines in the low [`LINE_BITS`] (a run is split before it would overflow).
    pub(super) day_lines: u32,
    pub(super) channel: u16,
    pub(super) region: u16,
}

const _: () = assert!(std::mem::size_of::<Run>() == 32);

/// Bits of [`Run::day_lines`] that count lines.
pub(super) const LINE_BITS: u32 = 10;
/// Most lines in one run.
pub(super) const MAX_RUN_LINES: u32 = (1 << LINE_BITS) - 1;
/// The day of 0001-01-01, the first day a file can name: days of years 1 to
/// 9999 are 0 to 3,652,058 after it, which 22 bits hold.
pub(super) const FIRST_DAY: Day = -719_162;

impl Run {
    pub(super) fn day(&self) -> Day {
        (self.day_lines >> LINE_BITS) as Day + FIRST_DAY
    }

    pub(super) fn lines(&self) -> u32 {
        self.day_lines & MAX_RUN_LINES
    }
}

/// Line amounts. Most amounts are a whole number of thousandths (prices with up
/// to three decimals, and their sums as written), stored as that number in 4
/// bytes when dividing it by 1000 gives the amount to the bit; the others are
/// kept aside with their line. When those are more than one in 16, every amount
/// is kept as an `f64` instead.
pub(super) enum Amounts {
    Mils { v: Vec<i32>, odd: Vec<(usize, f64)> },
    Plain(Vec<f64>),
}

/// A line of [`Amounts::Mils`] whose amount is kept aside.
const ODD: i32 = i32::MIN;

impl Default for Amounts {
    fn default() -> Self {
        Amounts::Mils { v: Vec::new(), odd: Vec::new() }
    }
}

/// `a` as thousandths when `m / 1000.0` is `a` to the bit (never [`ODD`]; `-0.0` is not).
#[inline]
fn mils(a: f64) -> Option<i32> {
    let m = round_half_away(a * 1000.0);
    if m.unsigned_abs() > i32::MAX.unsigned_abs().into() {
        return None;
    }
    let m = m as i32;
    ((f64::from(m) / 1000.0).to_bits() == a.to_bits()).then_some(m)
}

/// `x.round() as i64` (halves away from zero; saturating, NaN is 0) without a
/// call into the C library: the build targets baseline x86-64, which has no
/// rounding instruction, and `f64::round` was a call on every line read.
#[inline]
fn round_half_away(x: f64) -> i64 {
    // Truncates toward zero (saturating): one instruction.
    let t = x as i64;
    // Exact below 2^52; beyond, x is already a whole number (or t saturated) and
    // the difference is no half.
    let frac = x - t as f64;
    if frac >= 0.5 {
        t.saturating_add(1)
    } else if frac <= -0.5 {
        t.saturating_sub(1)
    } else {
        t
    }
}

impl Amounts {
    fn len(&self) -> usize {
        match self {
            Amounts::Mils { v, .. } => v.len(),
            Amounts::Plain(v) => v.len(),
        }
    }

    fn capacity(&self) -> usize {
        match self {
            Amounts::Mils { v, .. } => v.capacity(),
            Amounts::Plain(v) => v.capacity(),
        }
    }

    pub(super) fn reserve(&mut self, n: usize) {
        match self {
            Amounts::Mils { v, .. } => v.reserve(n),
            Amounts::Plain(v) => v.reserve(n),
        }
    }

    #[inline]
    fn push(&mut self, a: f64) {
        match self {
            Amounts::Mils { v, odd } => match mils(a) {
                Some(m) => v.push(m),
                None => {
                    odd.push((v.len(), a));
                    v.push(ODD);
                    if odd.len() >= 1024 && odd.len() * 16 > v.len() {
                        self.make_plain();
                    }
                }
            },
            Amounts::Plain(v) => v.push(a),
        }
    }

    /// Every amount as an `f64`, with room for as many lines as before.
    #[cold]
    fn make_plain(&mut self) {
        let mut plain = Vec::with_capacity(self.capacity());
        plain.extend((0..self.len()).map(|j| self.get(j)));
        *self = Amounts::Plain(plain);
    }

    #[inline]
    fn get(&self, j: usize) -> f64 {
        match self {
            Amounts::Mils { v, odd } => match v[j] {
                ODD => odd.get(odd.partition_point(|&(i, _)| i < j)).map_or(f64::NAN, |&(_, a)| a),
                m => f64::from(m) / 1000.0,
            },
            Amounts::Plain(v) => v[j],
        }
    }
}

/// The lines of one partition, from one reader (or chunk): runs, and each
/// line's own values by column. Memory during a load follows these: 32 bytes a
/// run, then 4 bytes a line for the amount (8 when many amounts are not whole
/// thousandths, see [`Amounts`]), 4 for a quantity and 2 for a category — a
/// column is only stored from its first known value on (before that, and when
/// it never has one, it stays empty); 8 more bytes a line for its source line in
/// strict mode with `drop_duplicates`. Lines of one purchase that do not arrive
/// together (random order) cost a run each.
#[derive(Default)]
pub(super) struct Part {
    /// Closed runs; the open one is [`Part::open`].
    pub(super) runs: Vec<Run>,
    /// The run the next line may continue, kept here rather than as the last
    /// of `runs` so that comparing with it reads this struct, which every line
    /// touches anyway, not a line of memory elsewhere. Its line count is
    /// [`Part::open_lines`] (0: no open run), not in its `day_lines` until it
    /// is closed: the run is written once and only read while lines continue
    /// it (a count stored into it and the whole run read back right after, as
    /// the next run begins, made the processor wait for the store).
    pub(super) open: Run,
    pub(super) open_lines: u32,
    pub(super) amount: Amounts,
    /// Empty, or one per line (NaN = unknown).
    pub(super) qty: Vec<f32>,
    /// Empty, or one code per line ([`NONE_CODE`] = none).
    pub(super) category: Vec<u16>,
    /// Bytes of the ids longer than 15 bytes (one copy per run of lines of a customer).
    pub(super) arena: Vec<u8>,
    /// The last long id stored: (offset, length).
    pub(super) last_long: (usize, usize),
    /// Source line of each line, kept only when strict mode must name the two
    /// lines of a dropped duplicate.
    pub(super) line_no: Vec<u64>,
}

/// Appends `x` to an optional column of `len` values so far: an empty column
/// stays empty while every value is `none`, and is filled with `none` up to
/// `len` on its first other value.
#[inline]
fn push_column<T: Copy>(col: &mut Vec<T>, len: usize, cap: usize, x: T, is_none: impl Fn(T) -> bool, none: T) {
    if col.is_empty() {
        if is_none(x) {
            return;
        }
        col.reserve(cap.max(len + 1));
        col.resize(len, none);
    }
    col.push(x);
}

impl Part {
    /// Lines stored.
    pub(super) fn len(&self) -> usize {
        self.amount.len()
    }

    /// Stores one line (`day` in years 1 to 9999): into the open run when it
    /// continues it, else as a new run (the loader stores staged lines a burst
    /// at a time, [`Part::store`]).
    #[cfg(test)]
    pub(super) fn push(&mut self, id: u128, key: u64, day: Day, amount: f64, qty: f32, names: [u16; 3]) {
        let line = Staged { id: [id as u64, (id >> 64) as u64], key, amount, line: 0, day, qty, names, part: 0 };
        self.store(std::iter::once(&line), false);
    }

    /// Stores staged lines, in order, as [`Part::push`] does one by one (and
    /// their source lines when `line_numbers`). The open run is kept in locals
    /// for the whole burst: read back from the part on every line, it had just
    /// been stored there by the line before (in a log in time order nearly
    /// every line opens a run), and each line's run check waited for that store
    /// (a third of this loop's samples under `perf annotate`).
    #[inline]
    pub(super) fn store<'a>(&mut self, lines: impl Iterator<Item = &'a Staged>, line_numbers: bool) {
        let (mut open, mut open_lines) = (self.open, self.open_lines);
        for l in lines {
            self.push_line(&mut open, &mut open_lines, l);
            if line_numbers {
                self.line_no.push(l.line);
            }
        }
        (self.open, self.open_lines) = (open, open_lines);
    }

    /// Stores one line, with the open run and its line count held by the caller.
    #[inline(always)]
    fn push_line(&mut self, open: &mut Run, open_lines: &mut u32, l: &Staged) {
        let Staged { id, key, amount, day, qty, names: [channel, category, region], .. } = *l;
        let day = ((day - FIRST_DAY) as u32) << LINE_BITS;
        let lines = *open_lines;
        if lines > 0 && lines < MAX_RUN_LINES && open.id == id && open.key == key && open.day_lines == day && open.channel == channel && open.region == region {
            *open_lines += 1;
        } else {
            if lines > 0 {
                self.runs.push(Run { day_lines: open.day_lines | lines, ..*open });
            }
            *open = Run { id, key, day_lines: day, channel, region };
            *open_lines = 1;
        }
        let (len, cap) = (self.amount.len(), self.amount.capacity());
        push_column(&mut self.qty, len, cap, qty, f32::is_nan, f32::NAN);
        push_column(&mut self.category, len, cap, category, |c| c == NONE_CODE, NONE_CODE);
        self.amount.push(amount);
    }

    /// Closes the open run (before the runs are read).
    pub(super) fn close_run(&mut self) {
        if self.open_lines > 0 {
            self.runs.push(Run { day_lines: self.open.day_lines | self.open_lines, ..self.open });
            self.open_lines = 0;
        }
    }

    /// Line `j`, put together from its run and its own values.
    #[inline]
    pub(super) fn line(&self, r: &Run, j: usize) -> PLine {
        PLine {
            key: r.key,
            amount: self.amount.get(j),
            day: r.day(),
            qty: self.qty.get(j).copied().unwrap_or(f32::NAN),
            channel: r.channel,
            category: self.category.get(j).copied().unwrap_or(NONE_CODE),
            region: r.region,
        }
    }

    /// The id text of a line.
    pub(super) fn id_text(&self, id: u128) -> std::borrow::Cow<'_, str> {
        let b = id.to_le_bytes();
        if b[15] == LONG_TAG {
            let at = id as u64 as usize;
            let len = (id >> 64) as u32 as usize;
            String::from_utf8_lossy(self.arena.get(at..at + len).unwrap_or_default())
        } else {
            std::borrow::Cow::Owned(String::from_utf8_lossy(&b[..usize::from(b[15]).min(15)]).into_owned())
        }
    }
}

/// A line validated and headed for partition `part`, waiting in a [`Stage`]:
/// what [`Part::push`] takes, and its source line. 56 bytes.
#[derive(Clone, Copy)]
pub(super) struct Staged {
    /// The customer id's key, as two words (8-byte alignment).
    pub(super) id: [u64; 2],
    pub(super) key: u64,
    pub(super) amount: f64,
    pub(super) line: u64,
    pub(super) day: Day,
    pub(super) qty: f32,
    /// Channel, category, region.
    pub(super) names: [u16; 3],
    pub(super) part: u16,
}

const _: () = assert!(std::mem::size_of::<Staged>() == 56);

/// Lines on their way to the partitions, stored a few thousand at a time,
/// partition by partition. Storing each line straight into its partition as it
/// arrives writes to ~1,000 places at once (four columns of 256 partitions, in
/// a log in time order a different partition on every line), more than the
/// first-level cache holds; from here each partition receives its lines of the
/// stage in one burst, and the stage itself is written in order. Within a
/// partition lines keep their arrival order, so the partitions hold exactly
/// what storing them one by one gives.
#[derive(Default)]
pub(super) struct Stage {
    lines: Vec<Staged>,
    /// Scratch: the staged lines' indices, partition by partition.
    order: Vec<u32>,
}

/// How many staged lines ahead [`Stage::flush`] reads a line before storing it.
const LOOKAHEAD: usize = 8;

impl Stage {
    /// Lines held before they are stored (~900 KB: within the second-level cache).
    pub(super) const LINES: usize = 16 * 1024;

    /// Holds one line; true when the stage is full (then [`Stage::flush`] it).
    #[inline]
    pub(super) fn push(&mut self, line: Staged) -> bool {
        self.lines.push(line);
        self.lines.len() >= Self::LINES
    }

    /// Stores the held lines into `parts` (with their source lines when
    /// `line_numbers`), partition by partition, each in arrival order.
    pub(super) fn flush(&mut self, parts: &mut [Part], line_numbers: bool) {
        if self.lines.is_empty() {
            return;
        }
        let mut start = vec![0u32; parts.len() + 1];
        for l in &self.lines {
            start[usize::from(l.part) + 1] += 1;
        }
        for p in 0..parts.len() {
            start[p + 1] += start[p];
        }
        self.order.clear();
        self.order.resize(self.lines.len(), 0);
        let mut at = start.clone();
        for (i, l) in self.lines.iter().enumerate() {
            let a = &mut at[usize::from(l.part)];
            self.order[*a as usize] = i as u32;
            *a += 1;
        }
        let (lines, order) = (&self.lines, &self.order);
        for (p, part) in parts.iter_mut().enumerate() {
            let burst = (start[p] as usize..start[p + 1] as usize).map(|k| {
                // The line stored a few lines later is read now: its place in the
                // stage is known only through `order`, so the processor cannot
                // fetch it early itself, and each line's run check (a branch it
                // often guesses wrong) would otherwise wait for it.
                if let Some(&ahead) = order.get(k + LOOKAHEAD) {
                    std::hint::black_box(lines[ahead as usize].id[0]);
                }
                &lines[order[k] as usize]
            });
            part.store(burst, line_numbers);
        }
        self.lines.clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    /// A run's packed day covers every day a file can name.
    #[test]
    fn run_days_cover_years_1_to_9999() {
        use crate::date::day_from_ymd;
        assert_eq!(FIRST_DAY, day_from_ymd(1, 1, 1));
        let last = day_from_ymd(9999, 12, 31);
        assert!(((last - FIRST_DAY) as u64) < 1 << (32 - LINE_BITS));
        let mut p = Part::default();
        for (k, day) in [FIRST_DAY, 0, last].into_iter().enumerate() {
            p.push(7, k as u64, day, 1.0, f32::NAN, [NONE_CODE; 3]);
        }
        p.close_run();
        assert_eq!(p.runs.iter().map(Run::day).collect::<Vec<_>>(), [FIRST_DAY, 0, last]);
    }

    /// Runs split at [`MAX_RUN_LINES`] and wherever the channel or region changes;
    /// every line keeps its values.
    #[test]
    fn runs_split_when_full_or_when_channel_or_region_change() {
        let mut p = Part::default();
        for j in 0..MAX_RUN_LINES + 13 {
            let channel = if j == 5 { 2 } else { 1 };
            let region = if j == 9 { 4 } else { 3 };
            p.push(9, 42, 100, f64::from(j), j as f32, [channel, j as u16, region]);
        }
        p.close_run();
        let lines: Vec<u32> = p.runs.iter().map(Run::lines).collect();
        assert_eq!(lines, [5, 1, 3, 1, MAX_RUN_LINES, 3]);
        let mut j = 0;
        for r in &p.runs {
            for _ in 0..r.lines() {
                let l = p.line(r, j);
                assert_eq!((l.key, l.day, l.amount, l.qty, l.category), (42, 100, j as f64, j as f32, j as u16));
                assert_eq!((l.channel, l.region), (if j == 5 { 2 } else { 1 }, if j == 9 { 4 } else { 3 }));
                j += 1;
            }
        }
        assert_eq!(j, p.len());
    }

    proptest! {
        /// Amounts come back to the bit, whether kept as thousandths, aside, or
        /// (past one in 16 aside) as `f64`s.
        #[test]
        fn amounts_come_back_to_the_bit(
            xs in proptest::collection::vec(prop_oneof![
                (-10_000_000i64..10_000_000).prop_map(|m| m as f64 / 1000.0),
                (-1e6f64..1e6),
                Just(-0.0f64), Just(0.0), Just(1e15), Just(-1e15), Just(2_147_483.647), Just(-2_147_483.648),
            ], 0..3000),
        ) {
            let mut a = Amounts::default();
            for &x in &xs {
                a.push(x);
            }
            prop_assert_eq!(a.len(), xs.len());
            for (j, &x) in xs.iter().enumerate() {
                prop_assert_eq!(a.get(j).to_bits(), x.to_bits());
            }
        }
    }

    /// Runs (id, key, day and lines, channel, region), amounts' bits, quantities' bits, categories, source lines.
    type Contents = (Vec<([u64; 2], u64, u32, u16, u16)>, Vec<u64>, Vec<u32>, Vec<u16>, Vec<u64>);

    /// Everything a partition holds, to compare two partitions.
    fn contents(p: &Part) -> Contents {
        let runs = p.runs.iter().map(|r| (r.id, r.key, r.day_lines, r.channel, r.region)).collect();
        let amounts = (0..p.len()).map(|j| p.amount.get(j).to_bits()).collect();
        (runs, amounts, p.qty.iter().map(|q| q.to_bits()).collect(), p.category.clone(), p.line_no.clone())
    }

    proptest! {
        /// Lines staged (and flushed wherever the stage is full or the caller
        /// flushes) fill every partition exactly as storing them one by one does.
        #[test]
        fn staged_lines_fill_the_partitions_as_direct_pushes_do(
            lines in proptest::collection::vec((0usize..5, 0u128..4, 0u64..3, 0i32..3, prop_oneof![Just(1.5f64), Just(0.1 + 0.2), -3.0f64..3.0], prop_oneof![Just(f32::NAN), Just(2.0f32)], 0u16..3, prop_oneof![Just(NONE_CODE), 0u16..3]), 0..400),
            flush_every in 1usize..500,
            line_numbers in any::<bool>(),
        ) {
            let mut direct: Vec<Part> = (0..5).map(|_| Part::default()).collect();
            let mut staged: Vec<Part> = (0..5).map(|_| Part::default()).collect();
            let mut stage = Stage::default();
            for (n, &(p, id, key, day, amount, qty, channel, category)) in lines.iter().enumerate() {
                direct[p].push(id, key, day, amount, qty, [channel, category, channel]);
                if line_numbers {
                    direct[p].line_no.push(n as u64);
                }
                let line = Staged { id: [id as u64, (id >> 64) as u64], key, amount, line: n as u64, day, qty, names: [channel, category, channel], part: p as u16 };
                if stage.push(line) || n % flush_every == 0 {
                    stage.flush(&mut staged, line_numbers);
                }
            }
            stage.flush(&mut staged, line_numbers);
            for (d, s) in direct.iter_mut().zip(&mut staged) {
                d.close_run();
                s.close_run();
                prop_assert_eq!(contents(d), contents(s));
            }
        }
    }

    /// The quick rounding is `f64::round` then a saturating cast, on halves,
    /// neighbours of halves, values past 2^52 and i64's range, infinities, NaN,
    /// and random bit patterns, wide values and thousandths.
    #[test]
    fn rounding_is_the_libraries_round() {
        let mut rng = winback_stats::Rng::new(7);
        let specials = [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, 0.49999999999999994, -0.49999999999999994, 4503599627370495.5, 4503599627370496.0, 9.3e18, -9.3e18, 1e300, -1e300, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 2147483647.5, -2147483648.5];
        let randoms = (0..200_000).map(|_| {
            let u = rng.next_u64();
            match u % 3 {
                0 => f64::from_bits(u),
                1 => (u >> 11) as f64 / 4096.0 - 1e12,
                _ => ((u >> 40) as f64 - 8e6) / 1000.0 * 1000.0 + [0.5, -0.5, 0.0][(u % 7 % 3) as usize],
            }
        });
        for x in specials.into_iter().chain(randoms) {
            assert_eq!(round_half_away(x), x.round() as i64, "{x:e} ({:#x})", x.to_bits());
        }
    }

    #[test]
    fn amounts_turn_plain_when_many_are_not_thousandths() {
        let mut a = Amounts::default();
        for j in 0..2000 {
            a.push(if j % 8 == 0 { 0.1 + 0.2 } else { 12.34 });
        }
        assert!(matches!(a, Amounts::Mils { .. }));
        for _ in 0..20_000 {
            a.push(0.1 + 0.2);
        }
        assert!(matches!(a, Amounts::Plain(_)));
        assert_eq!((a.get(0), a.get(1), a.len()), (0.1 + 0.2, 12.34, 22_000));
    }
}
