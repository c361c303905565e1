//! Failure schedules as data: *when* (a time, or bytes delivered) and *what* (kill, restart,
//! pause, resume, cut a link, crash a host, withdraw, drain, announce) — one [`FailureSchedule`], applied the
//! same way by every scenario through [`ScheduleRun::tick`] to whatever implements [`Stage`]
//! (a replica pool, an anycast site set).
//!
//! A schedule can be written as text, which is what `--schedule` flags take:
//!
//! ```text
//! at 10s kill serving; after 0s restart serving
//! at 21MiB kill r1; after 1s restart r1
//! at 5s crash-host r0; after 1s boot-host r0
//! at 3s pause balancer; after 0.5s resume balancer
//! ```
//!
//! `at Ns` counts from the start of the measured transfer, `at SIZE` fires once the client has
//! delivered that many bytes, `after Ns` counts from the step before it. Targets: `serving`
//! (the replica carrying the transfer when the step fires), `rN` (replica N), or a service or
//! host name the stage knows (`balancer`, `mirror`, `site-a`).

use std::fmt;
use std::str::FromStr;

use crate::byte_size::{format_bytes, parse_byte_size};
use crate::error::{LabError, Result};

/// When a step fires.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trigger {
    /// This many seconds after the start.
    At(f64),
    /// Once the client has delivered this many bytes.
    Delivered(u64),
    /// This many seconds after the previous step fired.
    After(f64),
}

/// What a step acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The replica serving the transfer when the step fires.
    Serving,
    /// Replica N.
    Replica(usize),
    /// A service or host by name.
    Named(String),
}

/// What a step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// SIGKILL: a crash of the process (its host's kernel lives on).
    Kill(Target),
    /// A new process with the same configuration, once ready.
    Restart(Target),
    /// SIGSTOP: the process hangs.
    Pause(Target),
    /// SIGCONT.
    Resume(Target),
    /// The host's link goes down (both ends).
    CutLink(Target),
    /// The host's link comes back.
    RestoreLink(Target),
    /// The host crashes: its link and every process on it gone, with the kernel's state.
    CrashHost(Target),
    /// The crashed host boots and starts its services again.
    BootHost(Target),
    /// A site withdraws its routes (anycast).
    Withdraw(Target),
    /// A site drains: withdraws, then waits for traffic to move (anycast, balancer).
    Drain(Target),
    /// A site announces its routes (again): joins the anycast service.
    Announce(Target),
}

/// One step.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// When.
    pub when: Trigger,
    /// What.
    pub action: Action,
}

/// The steps of a run, in the order they fire.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FailureSchedule {
    /// The steps.
    pub steps: Vec<Step>,
}

/// What a schedule acts on.
pub trait Stage {
    /// Carries out `action` now; returns what happened, for the timeline ("r1 (serving)
    /// SIGKILLed").
    fn apply(&mut self, action: &Action) -> Result<String>;

    /// Fails (quoting the log) if a process that should run has died.
    fn check(&mut self) -> Result<()> {
        Ok(())
    }

    /// Called on every tick with the time: a stage may read its processes' state and report
    /// what changed (a replica leaving the balancer's table) as `(seconds, label)` events.
    fn observe(&mut self, _seconds: f64, _events: &mut Vec<(f64, String)>) {}
}

/// A schedule being carried out.
#[derive(Debug)]
pub struct ScheduleRun<'a> {
    schedule: &'a FailureSchedule,
    fired: Vec<f64>,
}

impl FailureSchedule {
    /// A schedule of one step.
    pub fn at(when: Trigger, action: Action) -> Self {
        FailureSchedule {
            steps: vec![Step { when, action }],
        }
    }

    /// This schedule and one more step.
    pub fn then(mut self, when: Trigger, action: Action) -> Self {
        self.steps.push(Step { when, action });
        self
    }

    /// The time of the first step when it is given in seconds.
    pub fn first_at(&self) -> Option<f64> {
        match self.steps.first()?.when {
            Trigger::At(seconds) => Some(seconds),
            _ => None,
        }
    }

    /// Starts carrying it out.
    pub fn start(&self) -> ScheduleRun<'_> {
        ScheduleRun {
            schedule: self,
            fired: Vec::with_capacity(self.steps.len()),
        }
    }
}

impl ScheduleRun<'_> {
    /// Fires every step that is due at `seconds` with `delivered` bytes, in order, on `stage`;
    /// each fired step becomes an event `(seconds, label)`.
    pub fn tick(
        &mut self,
        seconds: impl Fn() -> f64,
        delivered: u64,
        stage: &mut dyn Stage,
        events: &mut Vec<(f64, String)>,
    ) -> Result<()> {
        while let Some(step) = self.schedule.steps.get(self.fired.len()) {
            let now = seconds();
            let due = match step.when {
                Trigger::At(at) => now >= at,
                Trigger::Delivered(bytes) => delivered >= bytes,
                Trigger::After(delay) => self.fired.last().is_none_or(|&last| now >= last + delay),
            };
            if !due {
                break;
            }
            let label = stage.apply(&step.action)?;
            // Stamped when the action is done: a restart counts once the service is ready.
            let done = seconds();
            events.push((done, label));
            self.fired.push(done);
        }
        stage.observe(seconds(), events);
        stage.check()
    }

    /// When step `index` fired (seconds), if it has.
    pub fn fired_at(&self, index: usize) -> Option<f64> {
        self.fired.get(index).copied()
    }

    /// Whether every step has fired.
    pub fn is_done(&self) -> bool {
        self.fired.len() == self.schedule.steps.len()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Serving => f.write_str("serving"),
            Target::Replica(i) => write!(f, "r{i}"),
            Target::Named(name) => f.write_str(name),
        }
    }
}

impl FromStr for Target {
    type Err = LabError;

    fn from_str(text: &str) -> Result<Self> {
        if text.is_empty() || text.contains(char::is_whitespace) {
            return Err(LabError::Usage(format!("bad target {text:?}")));
        }
        if text == "serving" {
            return Ok(Target::Serving);
        }
        match text.strip_prefix('r').map(str::parse::<usize>) {
            Some(Ok(i)) => Ok(Target::Replica(i)),
            _ => Ok(Target::Named(text.to_owned())),
        }
    }
}

/// The verbs of [`Action`] as written.
const VERBS: [&str; 11] = [
    "kill",
    "restart",
    "pause",
    "resume",
    "cut-link",
    "restore-link",
    "crash-host",
    "boot-host",
    "withdraw",
    "drain",
    "announce",
];

impl Action {
    fn verb(&self) -> (&'static str, &Target) {
        match self {
            Action::Kill(t) => ("kill", t),
            Action::Restart(t) => ("restart", t),
            Action::Pause(t) => ("pause", t),
            Action::Resume(t) => ("resume", t),
            Action::CutLink(t) => ("cut-link", t),
            Action::RestoreLink(t) => ("restore-link", t),
            Action::CrashHost(t) => ("crash-host", t),
            Action::BootHost(t) => ("boot-host", t),
            Action::Withdraw(t) => ("withdraw", t),
            Action::Drain(t) => ("drain", t),
            Action::Announce(t) => ("announce", t),
        }
    }

    /// What it acts on.
    pub fn target(&self) -> &Target {
        self.verb().1
    }

    fn from_verb(verb: &str, target: Target) -> Option<Self> {
        Some(match verb {
            "kill" => Action::Kill(target),
            "restart" => Action::Restart(target),
            "pause" => Action::Pause(target),
            "resume" => Action::Resume(target),
            "cut-link" => Action::CutLink(target),
            "restore-link" => Action::RestoreLink(target),
            "crash-host" => Action::CrashHost(target),
            "boot-host" => Action::BootHost(target),
            "withdraw" => Action::Withdraw(target),
            "drain" => Action::Drain(target),
            "announce" => Action::Announce(target),
            _ => return None,
        })
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.when {
            Trigger::At(s) => write!(f, "at {s}s")?,
            Trigger::Delivered(bytes) => write!(f, "at {}", format_bytes(bytes).replace(' ', ""))?,
            Trigger::After(s) => write!(f, "after {s}s")?,
        }
        let (verb, target) = self.action.verb();
        write!(f, " {verb} {target}")
    }
}

impl fmt::Display for FailureSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{step}")?;
        }
        Ok(())
    }
}

impl FromStr for Step {
    type Err = LabError;

    fn from_str(text: &str) -> Result<Self> {
        let bad = |why: &str| {
            LabError::Usage(format!(
                "bad schedule step {text:?}: {why} (e.g. \"at 10s kill serving\", \"after 1s \
                 restart serving\", \"at 20MiB crash-host r0\"; verbs: {})",
                VERBS.join(", ")
            ))
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        let [when, value, verb, target] = words[..] else {
            return Err(bad("expected WHEN VALUE VERB TARGET"));
        };
        let seconds = |value: &str| {
            value
                .strip_suffix('s')
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        let when = match (when, seconds(value)) {
            ("at", Some(s)) => Trigger::At(s),
            ("after", Some(s)) => Trigger::After(s),
            ("at", None) => Trigger::Delivered(
                parse_byte_size(value).map_err(|_| bad("not a time (10s) or a size (20MiB)"))?,
            ),
            _ => return Err(bad("WHEN is `at` or `after`, a time in seconds like 1.5s")),
        };
        let action = Action::from_verb(verb, target.parse()?).ok_or_else(|| bad("unknown verb"))?;
        Ok(Step { when, action })
    }
}

impl FromStr for FailureSchedule {
    type Err = LabError;

    fn from_str(text: &str) -> Result<Self> {
        let steps = text
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Step>>>()?;
        if matches!(
            steps.first(),
            Some(Step {
                when: Trigger::After(_),
                ..
            })
        ) {
            return Err(LabError::Usage(format!(
                "bad schedule {text:?}: the first step needs `at`, it has no step before it"
            )));
        }
        Ok(FailureSchedule { steps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stage that records what it was asked to do.
    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl Stage for Recorder {
        fn apply(&mut self, action: &Action) -> Result<String> {
            let (verb, target) = action.verb();
            self.0.push(format!("{verb} {target}"));
            Ok(format!("{verb} {target} done"))
        }
    }

    #[test]
    fn a_schedule_reads_back_as_it_was_written() {
        let text = "at 10s kill serving; after 0s restart serving; at 20MiB crash-host r0; \
                    after 1.5s boot-host r0; at 3s pause balancer";
        let schedule: FailureSchedule = text.parse().expect("parses");
        assert_eq!(schedule.steps.len(), 5);
        assert_eq!(schedule.steps[2].when, Trigger::Delivered(20 << 20));
        assert_eq!(
            schedule.steps[3].action,
            Action::BootHost(Target::Replica(0))
        );
        assert_eq!(
            schedule.steps[4].action,
            Action::Pause(Target::Named("balancer".to_owned()))
        );
        let again: FailureSchedule = schedule.to_string().parse().expect("round trip");
        assert_eq!(again, schedule);
    }

    #[test]
    fn bad_steps_are_refused_with_an_example() {
        for text in [
            "kill serving",
            "at ten kill serving",
            "at 1s explode r0",
            "after 1s kill r0",
            "at -1s kill r0",
        ] {
            let error = text.parse::<FailureSchedule>().expect_err(text);
            assert!(error.to_string().contains("at"), "{text}: {error}");
        }
    }

    #[test]
    fn steps_fire_in_order_when_due_and_after_counts_from_the_previous_step() {
        let schedule: FailureSchedule = "at 20KiB kill serving; after 1s restart serving"
            .parse()
            .expect("parses");
        let mut run = schedule.start();
        let mut stage = Recorder::default();
        let mut events = Vec::new();
        run.tick(|| 0.5, 10_000, &mut stage, &mut events)
            .expect("tick");
        assert!(stage.0.is_empty());
        run.tick(|| 2.0, 30_000, &mut stage, &mut events)
            .expect("tick");
        assert_eq!(stage.0, ["kill serving"]);
        run.tick(|| 2.9, 40_000, &mut stage, &mut events)
            .expect("tick");
        assert!(!run.is_done());
        run.tick(|| 3.0, 40_000, &mut stage, &mut events)
            .expect("tick");
        assert_eq!(stage.0, ["kill serving", "restart serving"]);
        assert!(run.is_done());
        assert_eq!(run.fired_at(0), Some(2.0));
        assert_eq!(events[1], (3.0, "restart serving done".to_owned()));
    }
}
