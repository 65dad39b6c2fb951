//! What the fuel-profile rewrite reads from a module before re-encoding it: the index spaces
//! (imported functions and globals first), function types, memory and table index widths,
//! exports and function names, and where the new counters go.

use std::collections::HashMap;

use anyhow::bail;
use wasmparser::{CompositeInnerType, KnownCustom, Name, Parser, Payload, TypeRef};

/// Export name prefix of the per-function fuel counters.
pub const FUEL_PREFIX: &str = "__gh_fuel_";
/// Export name prefix of the per-function call counters.
pub const CALLS_PREFIX: &str = "__gh_calls_";
/// Export name of the counter of fuel the probes themselves cost.
pub const OVERHEAD_EXPORT: &str = "__gh_profile_overhead";

/// What the rewrite needs to know about the module before re-encoding it.
#[derive(Default)]
pub struct Scan {
    pub imported_funcs: u32,
    pub imported_globals: u32,
    pub defined_globals: u32,
    /// Parameter count per type index (`None`: not a function type).
    pub type_params: Vec<Option<u32>>,
    /// Type index of each defined function.
    pub defined_types: Vec<u32>,
    pub memory64: Vec<bool>,
    pub table64: Vec<bool>,
    pub exports: usize,
    /// Function names from the `name` section.
    pub names: HashMap<u32, String>,
}

impl Scan {
    pub fn new(wasm: &[u8]) -> anyhow::Result<Scan> {
        let mut scan = Scan::default();
        for payload in Parser::new(0).parse_all(wasm) {
            match payload? {
                Payload::Version { encoding: wasmparser::Encoding::Component, .. } => {
                    bail!("components cannot be profiled, only core modules")
                }
                Payload::TypeSection(types) => {
                    for group in types {
                        for ty in group?.types() {
                            scan.type_params.push(match &ty.composite_type.inner {
                                CompositeInnerType::Func(f) => Some(f.params().len() as u32),
                                _ => None,
                            });
                        }
                    }
                }
                Payload::ImportSection(imports) => {
                    for import in imports.into_imports() {
                        match import?.ty {
                            TypeRef::Func(_) | TypeRef::FuncExact(_) => scan.imported_funcs += 1,
                            TypeRef::Global(_) => scan.imported_globals += 1,
                            TypeRef::Memory(m) => scan.memory64.push(m.memory64),
                            TypeRef::Table(t) => scan.table64.push(t.table64),
                            TypeRef::Tag(_) => {}
                        }
                    }
                }
                Payload::FunctionSection(funcs) => {
                    for ty in funcs {
                        scan.defined_types.push(ty?);
                    }
                }
                Payload::MemorySection(mems) => {
                    for m in mems {
                        scan.memory64.push(m?.memory64);
                    }
                }
                Payload::TableSection(tables) => {
                    for t in tables {
                        scan.table64.push(t?.ty.table64);
                    }
                }
                Payload::GlobalSection(globals) => scan.defined_globals = globals.count(),
                Payload::ExportSection(exports) => {
                    for export in exports {
                        let name = export?.name;
                        if name.starts_with(FUEL_PREFIX) || name.starts_with(CALLS_PREFIX) || name == OVERHEAD_EXPORT {
                            bail!("the module already exports {name:?}, a name the fuel profile reserves");
                        }
                        scan.exports += 1;
                    }
                }
                Payload::CustomSection(section) => {
                    if let KnownCustom::Name(names) = section.as_known() {
                        for name in names {
                            // A malformed name section only costs the names.
                            if let Ok(Name::Function(map)) = name {
                                for naming in map.into_iter().flatten() {
                                    scan.names.insert(naming.index, naming.name.to_string());
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(scan)
    }

    /// Index of the first global the rewrite adds.
    pub fn first_new_global(&self) -> u32 {
        self.imported_globals + self.defined_globals
    }

    pub fn fuel_global(&self, defined: u32) -> u32 {
        self.first_new_global() + 2 * defined
    }

    pub fn calls_global(&self, defined: u32) -> u32 {
        self.fuel_global(defined) + 1
    }

    pub fn overhead_global(&self) -> u32 {
        self.first_new_global() + 2 * self.defined_types.len() as u32
    }
}
