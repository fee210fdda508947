//! Checks that need more than one value at a time: the layout exists and has the images and
//! areas the steps use, files exist, exactly one of several alternative fields is given,
//! group members are devices. Every problem is collected, not just the first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mcuboot::layout::FlashMap;

use super::step::*;
use super::{DeviceSpec, Located, Mode, Scenario};

/// One validation problem, before it is placed in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub line: u64,
    pub column: u64,
    pub context: String,
    pub message: String,
    /// Text the problem is about, as written (a file name, a member name); when found at or
    /// after `line`, the diagnostic points at it instead of at the step.
    pub needle: Option<String>,
}

/// What validation knows about a device while walking the steps.
struct Target<'a> {
    spec: &'a DeviceSpec,
    map: Option<FlashMap>,
}

impl Target<'_> {
    fn image_count(&self) -> Option<usize> {
        self.map.as_ref().map(|m| m.images.len())
    }
    fn mode(&self) -> Mode {
        self.spec.mode
    }
}

struct Checker<'s> {
    scenario: &'s Scenario,
    source_hint: Vec<Problem>,
    sweeps: usize,
}

/// Where a problem is: line/column of the step (0 outside steps) and its description.
#[derive(Clone)]
struct Place {
    line: u64,
    column: u64,
    context: String,
    /// Text to point at when the problem has no better position.
    needle: Option<String>,
}

impl Scenario {
    /// Every problem the typed value has that parsing could not see. Empty when the scenario
    /// is valid. With a `base_dir`, the image, key and data files it names must exist.
    pub(crate) fn validate(&self) -> Vec<Problem> {
        let mut c = Checker { scenario: self, source_hint: Vec::new(), sweeps: 0 };
        c.scenario_level();
        c.source_hint
    }
}

impl<'s> Checker<'s> {
    fn report(&mut self, at: &Place, message: impl Into<String>) {
        self.push(at, None, message.into());
    }

    /// Report a problem about `needle`, a piece of text written in the step or section.
    fn report_on(&mut self, at: &Place, needle: &str, message: impl Into<String>) {
        self.push(at, Some(needle.to_string()), message.into());
    }

    fn push(&mut self, at: &Place, needle: Option<String>, message: String) {
        self.source_hint.push(Problem {
            line: at.line,
            column: at.column,
            context: at.context.clone(),
            message,
            needle: needle.or_else(|| at.needle.clone()),
        });
    }

    fn file(&mut self, at: &Place, what: &str, path: &Path) {
        let full = self.scenario.resolve(path);
        if self.scenario.base_dir.is_some() && !full.is_file() {
            let written = path.display().to_string();
            self.report_on(
                at,
                &written,
                format!("{what} `{written}` not found (looked for {})", full.display()),
            );
        }
    }

    fn scenario_level(&mut self) {
        let s = self.scenario;
        let top = Place { line: 0, column: 0, context: String::new(), needle: None };
        if s.name.trim().is_empty() {
            self.report(&top, "`name` is empty; say in one line what the scenario shows");
        }
        if s.device.is_none() && s.devices.is_empty() {
            self.report(&top, "no device: add a `device:` section (or `devices:` for several)");
        }
        if s.steps.is_empty() {
            self.report(&top, "`steps` is empty: a scenario must do something");
        }
        if s.timeout.is_some_and(|t| t.ms == 0) {
            self.report(&top, "`timeout` is 0; give each step some time, e.g. `10s`");
        }
        if let Some(d) = &s.device {
            self.device(d, "device");
        }
        let mut names = BTreeSet::new();
        for (i, d) in s.devices.iter().enumerate() {
            let context = format!("devices[{i}]");
            match &d.name {
                None => self.report(
                    &Place { line: 0, column: 0, context: context.clone(), needle: None },
                    "a device in `devices:` needs a `name` (steps and groups refer to it)",
                ),
                Some(n) if !names.insert(n.as_str()) => self.report(
                    &Place { line: 0, column: 0, context: context.clone(), needle: Some(n.clone()) },
                    format!("two devices are named `{n}`"),
                ),
                Some(_) => {}
            }
            self.device(d, &context);
        }
        for t in &s.targets {
            if t.trim().is_empty() {
                self.report(&top, "an entry of `targets` is empty");
            }
        }
        let first = s.device.as_ref().or(s.devices.first());
        if let Some(first) = first {
            let target = Target { spec: first, map: FlashMap::preset(&first.layout) };
            self.steps(&s.steps, "step ", &target);
        }
    }

    fn device(&mut self, d: &DeviceSpec, context: &str) {
        let (context, needle) = match &d.name {
            Some(n) => (format!("{context} ({n})"), n.clone()),
            None => (context.to_string(), format!("{context}:")),
        };
        let at = Place { line: 0, column: 0, context, needle: Some(needle) };
        let Some(map) = FlashMap::preset(&d.layout) else {
            self.report_on(
                &at,
                &d.layout,
                format!("unknown layout `{}`; the layouts are: {}", d.layout, FlashMap::PRESETS.join(", ")),
            );
            return;
        };
        if let Some(w) = d.write_size
            && ![1, 2, 4, 8, 16, 32].contains(&w.bytes)
        {
            self.report(&at, format!("write_size {} is not one of 1, 2, 4, 8, 16, 32", w.bytes));
        }
        if let Some(e) = d.erased_value
            && e.bytes != 0
            && e.bytes != 0xff
        {
            self.report(&at, format!("erased_value {:#x} is not 0xff or 0x00", e.bytes));
        }
        if d.key.is_some() && !d.keys.is_empty() {
            self.report(&at, "give `key` or `keys`, not both");
        }
        for k in d.key_files() {
            self.file(&at, "key file", k);
        }
        for (what, path) in d.image_files() {
            self.file(&at, &format!("image file ({what})"), path);
        }
        // swap-move and swap-offset shift the image by one sector, so MCUboot's
        // `boot_slots_compatible` wants every sector of both slots the same size; otherwise it
        // never swaps ("Cannot upgrade: slots are not compatible").
        if matches!(d.mode, super::Mode::SwapMove | super::Mode::SwapOffset) {
            for (i, slots) in map.images.iter().enumerate() {
                let sizes: BTreeSet<u32> = [slots.primary, slots.secondary]
                    .iter()
                    .flat_map(|a| map.area_sectors(*a))
                    .map(|s| s.size)
                    .collect();
                if sizes.len() > 1 {
                    self.report(
                        &at,
                        format!(
                            "mode `{}` needs sectors of one size in both slots, but image {i} of layout `{}` has \
                             sectors of {}: MCUboot would never swap (use swap-scratch or overwrite-only)",
                            crate::runner::kebab(&d.mode),
                            d.layout,
                            sizes.iter().map(|s| format!("{s:#x}")).collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
            }
        }
        let count = map.images.len();
        let mut taken = BTreeSet::new();
        if d.primary.is_some() {
            taken.insert((0, 0));
        }
        if d.secondary.is_some() {
            taken.insert((0, 1));
        }
        for (i, s) in d.images.iter().enumerate() {
            if usize::from(s.image) >= count {
                self.report(
                    &at,
                    format!(
                        "images[{i}]: image {} does not exist on layout `{}`, which has {}",
                        s.image,
                        d.layout,
                        images_word(count)
                    ),
                );
            }
            if !taken.insert((s.image, s.slot.index())) {
                self.report(
                    &at,
                    format!("images[{i}]: image {} slot {} is filled twice", s.image, s.slot.index()),
                );
            }
        }
        for (i, r) in d.behaviours.iter().enumerate() {
            if r.version.is_some() == r.hash.is_some() {
                self.report(&at, format!("behaviours[{i}]: give exactly one of `version` or `hash`"));
            }
            if let Some(h) = &r.hash
                && h.0.len() != 32
            {
                self.report_on(
                    &at,
                    &h.to_string(),
                    format!(
                        "behaviours[{i}]: hash has {} bytes; give the whole SHA-256 image hash (32 bytes)",
                        h.0.len()
                    ),
                );
            }
        }
        if let Some(l) = d.limits {
            if l.buf_size.is_some_and(|b| !(64..=65535).contains(&b.bytes)) {
                self.report(&at, "limits.buf_size must lie between 64 and 65535 bytes");
            }
            if l.buf_count == Some(0) {
                self.report(&at, "limits.buf_count must be at least 1");
            }
        }
        if d.max_img_sectors.is_some_and(|n| n == 0 || n > 8192) {
            self.report(&at, "max_img_sectors must lie between 1 and 8192");
        }
        if d.max_crash_boots == Some(0) {
            self.report(&at, "max_crash_boots must be at least 1");
        }
    }

    fn steps(&mut self, steps: &[Located<Step>], prefix: &str, target: &Target<'_>) {
        for (i, step) in steps.iter().enumerate() {
            let at = Place {
                line: step.line,
                column: step.column,
                context: format!("{prefix}{} ({})", i + 1, step.value.name()),
                needle: None,
            };
            self.step(&step.value, &at, target, &format!("{prefix}{}.", i + 1));
        }
    }

    fn image_number(&mut self, at: &Place, target: &Target<'_>, image: Option<u8>) {
        let (Some(image), Some(count)) = (image, target.image_count()) else { return };
        if usize::from(image) >= count {
            self.report(
                at,
                format!(
                    "image {image} does not exist: layout `{}` has {} (image numbers start at 0)",
                    target.spec.layout,
                    images_word(count)
                ),
            );
        }
    }

    fn hash_prefix(&mut self, at: &Place, h: Option<&super::Hex>) {
        if let Some(h) = h
            && (h.0.len() < 4 || h.0.len() > 64)
        {
            self.report(
                at,
                format!("hash `{h}` has {} bytes; give at least 4 (a prefix) and at most 64", h.0.len()),
            );
        }
    }

    fn rows(&mut self, at: &Place, target: &Target<'_>, rows: &[ImageRow]) {
        for row in rows {
            self.image_number(at, target, row.image);
            if row.slot > 1 {
                self.report(
                    at,
                    format!("slot {} does not exist; slots are 0 (primary) and 1 (secondary)", row.slot),
                );
            }
            if row.hash.is_some() && row.hash_of.is_some() {
                self.report(at, "give `hash` or `hash_of`, not both");
            }
            self.hash_prefix(at, row.hash.as_ref());
            if let Some(p) = &row.hash_of {
                self.file(at, "image file", p);
            }
        }
    }

    fn text_match(&mut self, at: &Place, what: &str, m: &TextMatch) {
        if let Some(r) = &m.regex
            && let Err(e) = regex::Regex::new(r)
        {
            let first = e.to_string().lines().last().unwrap_or_default().trim().to_string();
            self.report_on(at, r, format!("{what}.regex `{r}` is not a valid regular expression: {first}"));
        }
    }

    fn no_revert(&mut self, at: &Place, target: &Target<'_>, what: &str) {
        if !target.mode().can_revert() {
            self.report(
                at,
                format!(
                    "{what}: mode `overwrite-only` never reverts (use swap-scratch, swap-move or swap-offset)"
                ),
            );
        }
    }

    fn step(&mut self, step: &Step, at: &Place, target: &Target<'_>, nested_prefix: &str) {
        match step {
            Step::Echo(_)
            | Step::PowerOff(_)
            | Step::PowerOn(_)
            | Step::PowerCycle(_)
            | Step::ClearHooks(_) => {}
            Step::ClearTransportFaults(_) | Step::SettingsDelete(_) | Step::FsDownload(_) => {}
            Step::Upload(u) => {
                self.file(at, "image file", &u.image);
                self.image_number(at, target, u.image_number);
                if u.chunk_size.is_some_and(|c| c.bytes == 0) {
                    self.report(at, "chunk_size is 0");
                }
                if u.window == Some(0) {
                    self.report(at, "window is 0; at least one request must be in flight");
                }
            }
            Step::ImageState(s) => self.rows(at, target, &s.images),
            Step::ImageTest(t) => {
                let given =
                    [t.slot.is_some(), t.hash.is_some(), t.hash_of.is_some()].iter().filter(|g| **g).count();
                if given > 1 {
                    self.report(at, "give at most one of `slot`, `hash` or `hash_of`");
                }
                self.image_number(at, target, t.image);
                if t.slot.is_some_and(|s| s > 1) {
                    self.report(at, "slot must be 0 or 1");
                }
                self.hash_prefix(at, t.hash.as_ref());
                if let Some(p) = &t.hash_of {
                    self.file(at, "image file", p);
                }
            }
            Step::ImageConfirm(c) => {
                if c.hash.is_some() && c.hash_of.is_some() {
                    self.report(at, "give `hash` or `hash_of`, not both");
                }
                self.hash_prefix(at, c.hash.as_ref());
                if let Some(p) = &c.hash_of {
                    self.file(at, "image file", p);
                }
            }
            Step::Erase(e) => {
                if let (Some(slot), Some(count)) = (e.slot, target.image_count())
                    && usize::from(slot) >= 2 * count
                {
                    self.report(
                        at,
                        format!(
                            "slot {slot} does not exist on layout `{}` (slots 0..={})",
                            target.spec.layout,
                            2 * count - 1
                        ),
                    );
                }
            }
            Step::Reset(_) | Step::WaitBoot(_) => {}
            Step::PowerLoss(p) => {
                let given =
                    [p.at.is_some(), p.offset.is_some(), p.op.is_some()].iter().filter(|g| **g).count();
                if given != 1 {
                    self.report(at, "give exactly one of `at` (a percentage, upload only), `offset` (upload only) or `op` (a flash operation number)");
                }
                if (p.offset.is_some() || p.at.is_some()) && p.during != Phase::Upload {
                    self.report(
                        at,
                        "`at` and `offset` say how far into an upload; give `op` (a flash operation number) for other phases",
                    );
                }
                if p.op == Some(0) {
                    self.report(at, "op numbers start at 1");
                }
                if p.tear.is_some() && !matches!(p.kind, CutKind::Torn | CutKind::InterruptedErase) {
                    self.report(at, "`tear` applies to kinds `torn` and `interrupted-erase` only");
                }
                if p.during == Phase::Revert {
                    self.no_revert(at, target, "during: revert");
                }
            }
            Step::PowerLossSweep(s) => {
                self.sweeps += 1;
                if self.sweeps > 1 {
                    self.report(at, "only one power_loss_sweep per scenario (the steps after it already run once per cut)");
                }
                if s.cuts.is_empty() {
                    self.report(at, "`cuts` is empty; list at least one cut kind");
                }
                if s.every == Some(0) || s.max_cuts == Some(0) {
                    self.report(at, "`every` and `max_cuts` must be at least 1");
                }
                if s.during == Phase::Revert {
                    self.no_revert(at, target, "during: revert");
                }
            }
            Step::BitFlip(b) => {
                if b.bit > 7 {
                    self.report(at, format!("bit {} does not exist; bits are 0..=7", b.bit));
                }
                if let Some(map) = &target.map {
                    match map.devices.get(usize::from(b.flash)) {
                        None => self
                            .report(at, format!("flash {} does not exist on layout `{}`", b.flash, map.name)),
                        Some(g) if b.offset.bytes >= u64::from(g.size()) => self.report(
                            at,
                            format!(
                                "offset {:#x} lies past the end of flash {} ({:#x} bytes)",
                                b.offset.bytes,
                                b.flash,
                                g.size()
                            ),
                        ),
                        Some(_) => {}
                    }
                }
            }
            Step::Sleep(_) => {}
            Step::Expect(e) => self.expect(e, at, target),
            Step::FsUpload(f) => {
                if f.file.is_some() == f.contents.is_some() {
                    self.report(at, "give exactly one of `file` or `contents`");
                }
                if let Some(p) = &f.file {
                    self.file(at, "file", p);
                }
            }
            Step::SettingsRead(_) | Step::SettingsWrite(_) => {}
            Step::Shell(s) => {
                if s.command.trim().is_empty() {
                    self.report(at, "`command` is empty");
                }
                self.text_match(at, "output", &s.output);
            }
            Step::Hook(Hook::FileAccess(h)) => {
                if h.deny.is_some() == h.redirect.is_some() {
                    self.report(at, "file_access: give exactly one of `deny` or `redirect`");
                }
            }
            Step::Hook(_) => {}
            Step::TransportFault(t) => {
                let given = [t.probability.is_some(), t.nth.is_some(), t.every.is_some()]
                    .iter()
                    .filter(|g| **g)
                    .count();
                if given != 1 {
                    self.report(at, "give exactly one of `probability`, `nth` or `every`");
                }
                if t.nth == Some(0) || t.every == Some(0) {
                    self.report(at, "`nth` and `every` count from 1");
                }
                if (t.kind == TransportFaultKind::Delay) != t.delay.is_some() {
                    self.report(at, "`delay` is required with kind `delay` and only allowed with it");
                }
            }
            Step::Exec(x) => self.exec(x, at),
            Step::Group(g) => self.group(g, at),
            Step::On(on) => {
                match self.scenario.devices.iter().find(|d| d.name.as_deref() == Some(on.device.as_str())) {
                    None => {
                        let names = self.device_names();
                        self.report_on(
                            at,
                            &on.device,
                            format!(
                                "no device named `{}` in `devices:` (the devices are: {names})",
                                on.device
                            ),
                        );
                    }
                    Some(spec) => {
                        let t = Target { spec, map: FlashMap::preset(&spec.layout) };
                        self.steps(&on.steps, nested_prefix, &t);
                    }
                }
                for inner in &on.steps {
                    if matches!(inner.value, Step::On(_) | Step::Group(_) | Step::PowerLossSweep(_)) {
                        let place =
                            Place { line: inner.line, column: 0, context: at.context.clone(), needle: None };
                        self.report(
                            &place,
                            format!(
                                "`{}` inside `on` is not possible: `on` runs steps on one device (a sweep re-runs the whole scenario); write it at the top level",
                                inner.value.name()
                            ),
                        );
                    }
                }
            }
        }
    }

    fn device_names(&self) -> String {
        let names: Vec<&str> = self.scenario.devices.iter().filter_map(|d| d.name.as_deref()).collect();
        if names.is_empty() { "none".to_string() } else { names.join(", ") }
    }

    fn expect(&mut self, e: &ExpectStep, at: &Place, target: &Target<'_>) {
        if e.boots == Some(true) && e.bricked == Some(true) {
            self.report(at, "`boots: true` and `bricked: true` cannot both hold");
        }
        self.rows(at, target, &e.images);
        for f in &e.flash {
            let raw = [f.flash.is_some(), f.offset.is_some(), f.size.is_some()];
            let raw_given = raw.iter().any(|g| *g);
            if f.area.is_some() == raw_given {
                self.report(at, "flash: give `area` (with `image`), or `flash`, `offset` and `size`");
            } else if raw_given && !raw.iter().all(|g| *g) {
                self.report(at, "flash: a raw region needs all of `flash`, `offset` and `size`");
            }
            if f.sha256.is_some() == f.starts_with.is_some() {
                self.report(at, "flash: give exactly one of `sha256` or `starts_with`");
            }
            if let Some(h) = &f.sha256
                && h.0.len() != 32
            {
                self.report(at, format!("flash: sha256 has {} bytes; a SHA-256 has 32", h.0.len()));
            }
            if let Some(p) = &f.starts_with {
                self.file(at, "file", p);
            }
            self.image_number(at, target, f.image);
            if f.image.is_some() && f.area == Some(AreaName::Scratch) {
                self.report(at, "flash: the scratch area belongs to no image; drop `image`");
            }
            if let (Some(map), Some(AreaName::Scratch)) = (&target.map, f.area)
                && map.scratch.is_none()
            {
                self.report(at, format!("layout `{}` has no scratch area", map.name));
            }
            if let (Some(map), Some(dev), Some(off), Some(size)) = (&target.map, f.flash, f.offset, f.size) {
                match map.devices.get(usize::from(dev)) {
                    None => self.report(at, format!("flash {dev} does not exist on layout `{}`", map.name)),
                    Some(g) if off.bytes.saturating_add(size.bytes) > u64::from(g.size()) => self.report(
                        at,
                        format!(
                            "flash region {:#x}+{:#x} lies past the end of flash {dev} ({:#x} bytes)",
                            off.bytes,
                            size.bytes,
                            g.size()
                        ),
                    ),
                    Some(_) => {}
                }
            }
        }
        for s in &e.stats {
            if s.equals.is_none() && s.at_least.is_none() {
                self.report(at, format!("stats {}.{}: give `equals` or `at_least`", s.group, s.name));
            }
        }
        for f in &e.files {
            if f.exists.is_none() && f.contents.is_none() && f.bytes.is_none() && f.sha256.is_none() {
                self.report(
                    at,
                    format!(
                        "files {}: nothing to check; give `exists`, `contents`, `bytes` or `sha256`",
                        f.path
                    ),
                );
            }
            if f.exists == Some(false) && (f.contents.is_some() || f.bytes.is_some() || f.sha256.is_some()) {
                self.report(at, format!("files {}: `exists: false` with expected contents", f.path));
            }
        }
    }

    fn exec(&mut self, x: &ExecStep, at: &Place) {
        if x.command.trim().is_empty() {
            self.report(at, "`command` is empty");
        } else if let Err(e) = crate::runner::exec::split(&x.command) {
            // Quotes, shell syntax that would need a shell: what `exec` would refuse when run.
            self.report(at, format!("command: {e}"));
        }
        match placeholders(&x.command) {
            Err(msg) => self.report(at, msg),
            Ok(used) => {
                for p in &used {
                    if !EXEC_PLACEHOLDERS.contains(&p.as_str()) {
                        self.report_on(
                            at,
                            &format!("{{{p}}}"),
                            format!(
                                "unknown placeholder `{{{p}}}` in command; the placeholders are: {}",
                                EXEC_PLACEHOLDERS
                                    .iter()
                                    .map(|p| format!("{{{p}}}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                    }
                }
                if used.iter().any(|p| p == "image" || p == "hash") && x.image.is_none() {
                    self.report(
                        at,
                        "the command uses `{image}` or `{hash}`, so the step needs `image: FILE`",
                    );
                }
            }
        }
        if let Some(p) = &x.image {
            self.file(at, "image file", p);
        }
        self.text_match(at, "stdout", &x.stdout);
        self.text_match(at, "stderr", &x.stderr);
    }

    fn group(&mut self, g: &GroupStep, at: &Place) {
        if g.members.len() < 2 {
            self.report(at, "a group has at least two members");
        }
        let mut seen = BTreeSet::new();
        let known: Vec<&str> = self.scenario.devices.iter().filter_map(|d| d.name.as_deref()).collect();
        for m in &g.members {
            if !seen.insert(m.as_str()) {
                self.report(at, format!("member `{m}` is listed twice"));
            }
            match self.scenario.devices.iter().find(|d| d.name.as_deref() == Some(m.as_str())) {
                None => {
                    let hint = match super::closest(m, known.iter().copied()) {
                        Some(best) => format!(" (did you mean `{best}`?)"),
                        None => String::new(),
                    };
                    let names = self.device_names();
                    self.report_on(
                        at,
                        m,
                        format!("member `{m}` is not a device in `devices:`{hint}; the devices are: {names}"),
                    );
                }
                Some(d) if g.expect == GroupOutcome::RolledBack && !d.mode.can_revert() => {
                    self.report(
                        at,
                        format!("member `{m}` uses mode `overwrite-only`, which cannot roll back"),
                    );
                }
                Some(_) => {}
            }
        }
        self.file(at, "image file", &g.image);
        let images: Vec<(&String, &PathBuf)> = g.images.iter().collect();
        for (member, path) in images {
            if !g.members.contains(member) {
                self.report_on(at, member, format!("images: `{member}` is not a member of this group"));
            }
            self.file(at, "image file", path);
        }
        for f in &g.failures {
            if !g.members.contains(&f.member) {
                self.report_on(
                    at,
                    &f.member,
                    format!(
                        "failures: `{}` is not a member of this group (members: {})",
                        f.member,
                        g.members.join(", ")
                    ),
                );
            }
            if f.at.is_some() && (f.phase != GroupPhase::Upload || f.kind != GroupFailureKind::PowerLoss) {
                self.report(at, "failures: `at` applies to a power-loss during upload only");
            }
            if !f.kind.possible_in(f.phase) {
                self.report(
                    at,
                    format!(
                        "failures: a `{}` cannot be injected in the {} phase (possible there: {})",
                        crate::runner::kebab(&f.kind),
                        crate::runner::kebab(&f.phase),
                        GroupFailureKind::ALL
                            .iter()
                            .filter(|k| k.possible_in(f.phase))
                            .map(crate::runner::kebab)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
    }
}

fn images_word(count: usize) -> String {
    if count == 1 { "1 image".to_string() } else { format!("{count} images") }
}

/// The placeholder names used in an `exec` command (`{{` and `}}` are literal braces).
fn placeholders(command: &str) -> Result<Vec<String>, String> {
    let mut used = Vec::new();
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                        _ => {
                            return Err(format!(
                                "unclosed or malformed placeholder `{{{name}` in command (write `{{{{` for a literal brace)"
                            ));
                        }
                    }
                }
                used.push(name);
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
            }
            '}' => return Err("a lone `}` in command (write `}}` for a literal brace)".to_string()),
            _ => {}
        }
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_are_found_and_braces_escape() {
        assert_eq!(placeholders("smpmgr --port {pty} upgrade {image}").unwrap(), ["pty", "image"]);
        assert_eq!(placeholders("echo {{literal}}").unwrap(), Vec::<String>::new());
        assert!(placeholders("echo {pty").is_err());
        assert!(placeholders("echo }").is_err());
    }

    #[test]
    fn on_holds_steps_for_one_device_only() {
        let text = "name: x\ndevices:\n  - {name: a}\n  - {name: b}\nsteps:\n  - on:\n      device: a\n      steps:\n        - on: {device: b, steps: [reset]}\n";
        let e = crate::scenario::Scenario::from_str(text, "x.yaml").map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("x.yaml:9:"), "{e}");
        assert!(e.contains("`on` inside `on` is not possible"), "{e}");
    }

    #[test]
    fn a_percentage_cut_is_for_uploads_only() {
        let parse = |during: &str| {
            let text =
                format!("name: x\ndevice: {{}}\nsteps:\n  - power_loss: {{ during: {during}, at: 50% }}\n");
            crate::scenario::Scenario::from_str(&text, "x.yaml").map(|_| ()).map_err(|e| e.to_string())
        };
        assert!(parse("upload").is_ok());
        let e = parse("swap").unwrap_err();
        assert!(e.contains("give `op` (a flash operation number) for other phases"), "{e}");
    }

    #[test]
    fn swap_move_and_offset_refuse_layouts_with_mixed_sectors() {
        let scenario = |layout: &str, mode: &str| {
            crate::scenario::Scenario::from_str(
                &format!("name: x\ndevice: {{layout: {layout}, mode: {mode}}}\nsteps: [reset]\n"),
                "x.yaml",
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        let e = scenario("stm32f4", "swap-offset").unwrap_err();
        assert!(e.contains("mode `swap-offset` needs sectors of one size in both slots"), "{e}");
        assert!(scenario("stm32f4", "swap-move").is_err());
        assert!(scenario("stm32f4", "swap-scratch").is_ok());
        assert!(scenario("k64f", "swap-offset").is_ok());
    }
}
