//! The compiler of `regexp:` keys: a parsed [`Node`] tree into a Thompson NFA program (a
//! list of [`Inst`]s) for the Pike VM in `vm.rs`. Counted repetitions are unrolled, so the
//! program's size is bounded by [`MAX_INSTS`].

use super::Error;
use super::parse::{Look, Node};

/// The most instructions a pattern may compile to: keys need tens; this bounds the memory of
/// a hostile or mistaken config (`(a{1000}){1000}`) and the work per input character.
pub(super) const MAX_INSTS: usize = 10_000;

/// A jump target not yet known.
const HOLE: u32 = u32::MAX;

/// One NFA instruction. Consuming instructions continue at the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Inst {
    /// One code point.
    Char(u32),
    /// A class, by index.
    Class(u32),
    /// Any character but `\n`.
    AnyNotNewline,
    /// Any character.
    Any,
    /// Continue at both.
    Split(u32, u32),
    Jump(u32),
    /// Continue at the next instruction if the assertion holds here.
    Look(Look),
    Match,
}

/// Compiles `node`; the program ends in [`Inst::Match`].
pub(super) fn compile(node: &Node) -> Result<Vec<Inst>, Error> {
    let mut c = Compiler { insts: Vec::new() };
    c.node(node)?;
    c.emit(Inst::Match)?;
    Ok(c.insts)
}

struct Compiler {
    insts: Vec<Inst>,
}

impl Compiler {
    fn pc(&self) -> u32 {
        self.insts.len() as u32
    }

    fn emit(&mut self, inst: Inst) -> Result<u32, Error> {
        if self.insts.len() >= MAX_INSTS {
            // The message names MAX_INSTS.
            return Err(Error::new("expression too large (more than 10000 instructions)"));
        }
        self.insts.push(inst);
        Ok(self.pc() - 1)
    }

    /// Points the [`HOLE`] of the jump or split at `at` to `to`.
    fn patch(&mut self, at: u32, to: u32) {
        match self.insts.get_mut(at as usize) {
            Some(Inst::Jump(t)) | Some(Inst::Split(_, t)) if *t == HOLE => *t = to,
            _ => {}
        }
    }

    fn node(&mut self, node: &Node) -> Result<(), Error> {
        match node {
            Node::Empty => {}
            Node::Char(c) => {
                self.emit(Inst::Char(*c))?;
            }
            Node::Class(i) => {
                self.emit(Inst::Class(*i))?;
            }
            Node::AnyNotNewline => {
                self.emit(Inst::AnyNotNewline)?;
            }
            Node::Any => {
                self.emit(Inst::Any)?;
            }
            Node::Look(look) => {
                self.emit(Inst::Look(*look))?;
            }
            Node::Concat(items) => {
                for item in items {
                    self.node(item)?;
                }
            }
            Node::Alternate(branches) => {
                let mut jumps = Vec::with_capacity(branches.len());
                let (last, rest) = branches.split_last().unwrap_or((&Node::Empty, &[]));
                for branch in rest {
                    let split = self.emit(Inst::Split(self.pc() + 1, HOLE))?;
                    self.node(branch)?;
                    jumps.push(self.emit(Inst::Jump(HOLE))?);
                    self.patch(split, self.pc());
                }
                self.node(last)?;
                for jump in jumps {
                    self.patch(jump, self.pc());
                }
            }
            Node::Repeat { sub, min, max } => self.repeat(sub, *min, *max)?,
        }
        Ok(())
    }

    fn repeat(&mut self, sub: &Node, min: u32, max: Option<u32>) -> Result<(), Error> {
        match max {
            // `x*`: L: split(L+1, out); x; jump L.
            None if min == 0 => {
                let split = self.emit(Inst::Split(self.pc() + 1, HOLE))?;
                self.node(sub)?;
                self.emit(Inst::Jump(split))?;
                self.patch(split, self.pc());
            }
            // `x{n,}`: n-1 copies, then `x+`: L: x; split(L, out).
            None => {
                for _ in 1..min {
                    self.node(sub)?;
                }
                let start = self.pc();
                self.node(sub)?;
                self.emit(Inst::Split(start, self.pc() + 1))?;
            }
            // `x{n,m}`: n copies, then m-n optional ones that each may skip to the end.
            Some(max) => {
                for _ in 0..min {
                    self.node(sub)?;
                }
                let mut splits = Vec::new();
                for _ in min..max {
                    splits.push(self.emit(Inst::Split(self.pc() + 1, HOLE))?);
                    self.node(sub)?;
                }
                for split in splits {
                    self.patch(split, self.pc());
                }
            }
        }
        Ok(())
    }
}
