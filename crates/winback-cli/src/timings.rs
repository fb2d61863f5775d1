//! `--timings`: how long each step of a verb took, printed on stderr when it
//! ends — for batch jobs, where no progress bar is drawn, and for finding where
//! a long run goes. A step is what the progress display names (reading a file,
//! grouping its lines into purchases, learning the features, ...); one begins
//! where the one before ends. Each has its wall time and the CPU time of the
//! whole process (every thread) over it, which shows how much of the machine it
//! kept busy: CPU from `/proc/self/stat`, in hundredths of a second, on Linux;
//! elsewhere none is shown.

use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Mark {
    at: Instant,
    cpu: Option<f64>,
}

impl Mark {
    fn now() -> Mark {
        Mark { at: Instant::now(), cpu: process_cpu_seconds() }
    }
}

struct Step {
    name: String,
    wall: Duration,
    cpu: Option<f64>,
}

struct State {
    start: Option<Mark>,
    open: Option<(String, Mark)>,
    done: Vec<Step>,
}

static STATE: Mutex<State> = Mutex::new(State { start: None, open: None, done: Vec::new() });

fn state() -> std::sync::MutexGuard<'static, State> {
    // A panic while the lock was held left nothing half-written that matters here.
    STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts timing: the total counts from here. Without it the other calls do nothing.
pub fn enable() {
    state().start = Some(Mark::now());
}

/// A step begins (and the open one, if any, ends).
pub fn begin(name: &str) {
    let mut s = state();
    if s.start.is_none() {
        return;
    }
    close(&mut s);
    s.open = Some((name.to_string(), Mark::now()));
}

/// The open step ends.
pub fn end() {
    let mut s = state();
    if s.start.is_some() {
        close(&mut s);
    }
}

fn close(s: &mut State) {
    if let Some((name, from)) = s.open.take() {
        let to = Mark::now();
        s.done.push(Step { name, wall: to.at - from.at, cpu: cpu_between(&from, &to) });
    }
}

fn cpu_between(from: &Mark, to: &Mark) -> Option<f64> {
    Some((to.cpu? - from.cpu?).max(0.0))
}

/// The table of steps, the time outside them and the total, when timing was
/// enabled (the open step, if any, ends here).
pub fn report() -> Option<String> {
    let mut s = state();
    let start = s.start.take()?;
    close(&mut s);
    let end = Mark::now();
    let steps = std::mem::take(&mut s.done);
    Some(table(&steps, end.at - start.at, cpu_between(&start, &end)))
}

fn table(steps: &[Step], total: Duration, total_cpu: Option<f64>) -> String {
    let width = steps.iter().map(|x| x.name.chars().count()).chain(["outside these steps".len()]).max().unwrap_or(0);
    let cpu = |c: Option<f64>| c.map_or_else(|| "–".to_string(), |c| format!("{c:.2}"));
    // "timings: " is 7 characters wider than a step line's indent.
    let mut out = format!("timings: {:<w$} {:>8} {:>8}\n", "step", "wall s", "CPU s", w = width - 7);
    let mut line = |name: &str, wall: Duration, c: Option<f64>| {
        out.push_str(&format!("  {name:<width$} {:>8.2} {:>8}\n", wall.as_secs_f64(), cpu(c)));
    };
    for x in steps {
        line(&x.name, x.wall, x.cpu);
    }
    let in_steps: Duration = steps.iter().map(|x| x.wall).sum();
    let cpu_in_steps: Option<f64> = steps.iter().map(|x| x.cpu).sum();
    let outside_cpu = total_cpu.zip(cpu_in_steps).map(|(t, s)| (t - s).max(0.0));
    line("outside these steps", total.saturating_sub(in_steps), outside_cpu);
    line("total", total, total_cpu);
    out
}

/// The process's user and system CPU time so far (Linux: `/proc/self/stat`,
/// fields 14 and 15, in clock ticks of 1/100 s).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_each_step_the_rest_and_the_total() {
        let steps = [
            Step { name: "reading x.csv".into(), wall: Duration::from_millis(1500), cpu: Some(2.9) },
            Step { name: "grouping lines into purchases".into(), wall: Duration::from_millis(250), cpu: Some(0.5) },
        ];
        let t = table(&steps, Duration::from_millis(2000), Some(3.5));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5, "{t}");
        assert!(lines[0].starts_with("timings: step") && lines[0].ends_with("wall s    CPU s"), "{t}");
        assert_eq!(lines[1], "  reading x.csv                     1.50     2.90");
        assert_eq!(lines[2], "  grouping lines into purchases     0.25     0.50");
        assert_eq!(lines[3], "  outside these steps               0.25     0.10");
        assert_eq!(lines[4], "  total                             2.00     3.50");
        // Without CPU figures (not Linux), a dash.
        let t = table(&steps[..1], Duration::from_millis(1500), None);
        assert!(t.lines().nth(1).unwrap().ends_with("1.50     2.90"), "{t}");
        assert!(t.lines().last().unwrap().ends_with("1.50        –"), "{t}");
    }

    #[test]
    fn cpu_time_is_read_and_grows_with_work() {
        if !cfg!(target_os = "linux") {
            assert_eq!(process_cpu_seconds(), None);
            return;
        }
        let a = process_cpu_seconds().unwrap();
        // Work until the reading moves (a bound on the wait, not a timing).
        let t = Instant::now();
        let mut x = 0u64;
        let mut b = a;
        while b <= a && t.elapsed() < Duration::from_secs(30) {
            for _ in 0..1_000_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(std::hint::black_box(1));
            }
            b = process_cpu_seconds().unwrap();
        }
        std::hint::black_box(x);
        assert!(b > a, "{a} -> {b}");
    }
}
