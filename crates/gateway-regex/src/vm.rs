//! The matcher of `regexp:` keys: a Pike VM over the compiled NFA. It keeps the set of NFA
//! states alive at the current input position (each at most once) and steps them all over
//! each character, so a search costs O(input length × program size) whatever the pattern;
//! nothing backtracks. Only whether a match exists is computed (no positions, no captures).

use super::class::{Class, is_word};
use super::compile::Inst;
use super::parse::Look;

/// Programs up to this size run on stack buffers; larger ones allocate.
const STACK_INSTS: usize = 64;

/// Whether `prog` matches anywhere in `text`; `steps` counts the states visited (for tests).
/// `anchored` programs (starting with `\A`) are only started at position 0.
pub(super) fn search(prog: &[Inst], classes: &[Class], anchored: bool, text: &str, steps: &mut u64) -> bool {
    let n = prog.len();
    let mut small = [0u32; 4 * STACK_INSTS];
    let mut large = Vec::new();
    let buf: &mut [u32] = if n <= STACK_INSTS {
        &mut small[..4 * n]
    } else {
        large.resize(4 * n, 0);
        &mut large
    };
    let (seen, buf) = buf.split_at_mut(n);
    let (stack, buf) = buf.split_at_mut(n);
    let (mut current, mut next) = buf.split_at_mut(n);
    let mut vm = Vm { prog, seen, stack, generation: 1, steps: 0 };
    let mut len = 0usize;
    let mut prev: Option<char> = None;
    let mut chars = text.chars();
    let mut ahead = chars.next();
    let found = loop {
        if (!anchored || prev.is_none()) && vm.add(0, current, &mut len, prev, ahead) {
            break true;
        }
        if len == 0 && anchored {
            break false;
        }
        let Some(c) = ahead else { break false };
        let after = chars.next();
        vm.generation += 1;
        let mut next_len = 0usize;
        for &pc in current.get(..len).unwrap_or_default() {
            let step = match prog.get(pc as usize) {
                Some(Inst::Char(x)) => *x == c as u32,
                Some(Inst::Class(i)) => classes.get(*i as usize).is_some_and(|class| class.contains(c)),
                Some(Inst::AnyNotNewline) => c != '\n',
                Some(Inst::Any) => true,
                _ => false,
            };
            if step && vm.add(pc + 1, next, &mut next_len, Some(c), after) {
                *steps += vm.steps;
                return true;
            }
        }
        std::mem::swap(&mut current, &mut next);
        len = next_len;
        prev = Some(c);
        ahead = after;
    };
    *steps += vm.steps;
    found
}

struct Vm<'a> {
    prog: &'a [Inst],
    /// The generation (input position + 1) at which each instruction was last added.
    seen: &'a mut [u32],
    stack: &'a mut [u32],
    generation: u32,
    steps: u64,
}

impl Vm<'_> {
    /// Adds `pc` and everything reachable from it without consuming input to `list` (only the
    /// consuming instructions are stored); `true` if that reaches [`Inst::Match`].
    fn add(&mut self, pc: u32, list: &mut [u32], len: &mut usize, prev: Option<char>, next: Option<char>) -> bool {
        let mut top = 0usize;
        self.push(pc, &mut top);
        while top > 0 {
            top -= 1;
            let pc = self.stack[top];
            self.steps += 1;
            match self.prog.get(pc as usize) {
                Some(Inst::Match) => return true,
                Some(Inst::Jump(to)) => self.push(*to, &mut top),
                Some(Inst::Split(a, b)) => {
                    self.push(*b, &mut top);
                    self.push(*a, &mut top);
                }
                Some(Inst::Look(look)) if holds(*look, prev, next) => self.push(pc + 1, &mut top),
                Some(Inst::Look(_)) => {}
                Some(_) => {
                    list[*len] = pc;
                    *len += 1;
                }
                None => {}
            }
        }
        false
    }

    /// Queues `pc` unless it was already added at this position (so the stack never holds
    /// more than one entry per instruction).
    #[inline]
    fn push(&mut self, pc: u32, top: &mut usize) {
        if let Some(seen) = self.seen.get_mut(pc as usize)
            && *seen != self.generation
        {
            *seen = self.generation;
            self.stack[*top] = pc;
            *top += 1;
        }
    }
}

fn holds(look: Look, prev: Option<char>, next: Option<char>) -> bool {
    match look {
        Look::StartText => prev.is_none(),
        Look::EndText => next.is_none(),
        Look::StartLine => prev.is_none_or(|c| c == '\n'),
        Look::EndLine => next.is_none_or(|c| c == '\n'),
        Look::WordBoundary => is_word(prev) != is_word(next),
        Look::NotWordBoundary => is_word(prev) == is_word(next),
    }
}
