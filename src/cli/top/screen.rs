//! The full-screen view: ratatui on crossterm (works over ssh: it only
//! writes escape sequences to the terminal), redrawn every interval and on
//! every key or resize; the terminal is restored on exit, error or panic.

use std::path::Path;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::Constraint;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row as TableRow, Table};
use ratatui::{DefaultTerminal, Frame};

use super::window::{History, SortKey, View};
use super::{cells, heading, trace_cells};
use ringside_agent::sidecar::span_metrics::live;

/// What the keys change.
struct State {
    view: View,
    key: SortKey,
    reverse: bool,
    error: Option<String>,
}

/// Runs until `q`, Esc or Ctrl-C.
pub fn run(
    dir: &Path,
    mut history: History,
    interval: Duration,
    key: SortKey,
) -> anyhow::Result<()> {
    // Sets up raw mode and the alternate screen, and a panic hook that
    // restores them.
    let mut terminal = ratatui::init();
    let result = run_loop(&mut terminal, dir, &mut history, interval, key);
    ratatui::restore();
    result
}

fn run_loop(
    terminal: &mut DefaultTerminal,
    dir: &Path,
    history: &mut History,
    interval: Duration,
    key: SortKey,
) -> anyhow::Result<()> {
    let mut state = State {
        view: View::Operations,
        key,
        reverse: false,
        error: None,
    };
    let mut next_fetch = Instant::now() + interval;
    loop {
        terminal.draw(|f| draw(f, dir, history, &state))?;
        let wait = next_fetch.saturating_duration_since(Instant::now());
        if event::poll(wait)? {
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => {
                    let ctrl_c =
                        k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c');
                    match k.code {
                        KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                        _ if ctrl_c => return Ok(()),
                        KeyCode::Char('s') | KeyCode::Right => state.key = state.key.step(1),
                        KeyCode::Left => state.key = state.key.step(-1),
                        KeyCode::Char('r') => state.reverse = !state.reverse,
                        KeyCode::Char('v') | KeyCode::Tab => state.view = state.view.next(),
                        _ => {}
                    }
                }
                // Resize and anything else: redraw.
                _ => {}
            }
        }
        if Instant::now() >= next_fetch {
            next_fetch = Instant::now() + interval;
            match live::fetch(dir) {
                Ok(s) => {
                    history.push(s);
                    state.error = None;
                }
                // Keep showing the last figures; say why they are old.
                Err(e) => state.error = Some(e.to_string()),
            }
        }
    }
}

fn draw(f: &mut Frame<'_>, dir: &Path, history: &History, state: &State) {
    let area = f.area();
    let [top, keys, body] = ratatui::layout::Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(area);
    let title = match &state.error {
        Some(e) => format!(
            "{}  [stale: {e}]",
            heading(dir, history, state.view, state.key, state.reverse)
        ),
        None => heading(dir, history, state.view, state.key, state.reverse),
    };
    f.render_widget(
        Paragraph::new(Line::from(title)).style(Style::new().add_modifier(Modifier::BOLD)),
        top,
    );
    f.render_widget(
        Paragraph::new("s/→ next column  ← previous  r reverse  v/Tab view  q quit"),
        keys,
    );
    let bold = Style::new().add_modifier(Modifier::REVERSED);
    if state.view == View::Traces {
        let header = TableRow::new(["DURATION", "OPERATION", "STATUS", "TRACE ID"]).style(bold);
        let rows = history
            .traces()
            .into_iter()
            .map(|t| TableRow::new(trace_cells(&t)));
        let widths = [
            Constraint::Length(10),
            Constraint::Fill(1),
            Constraint::Length(6),
            Constraint::Length(32),
        ];
        f.render_widget(Table::new(rows, widths).header(header), body);
        return;
    }
    let services = state.view == View::Services;
    let titles = [
        "OPERATION",
        "RATE/S",
        "ERR%",
        "P50",
        "P99",
        "P99.9",
        "CALLS",
    ];
    let header = TableRow::new(titles.iter().enumerate().map(|(i, t)| {
        // Mark the sort column.
        let sorted = i < SortKey::ALL.len() && SortKey::ALL[i] == state.key;
        // Numbers sort largest first, names A to Z; `r` flips either.
        let descending = (state.key != SortKey::Name) != state.reverse;
        let arrow = match (sorted, descending) {
            (true, true) => " ▼",
            (true, false) => " ▲",
            _ => "",
        };
        Cell::from(format!("{t}{arrow}"))
    }))
    .style(bold);
    let rows = history
        .rows(services, state.key, state.reverse)
        .into_iter()
        .map(|r| TableRow::new(cells(&r)));
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(10),
    ];
    f.render_widget(Table::new(rows, widths).header(header), body);
}
