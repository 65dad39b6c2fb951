//! The fuel-profile rewriter: adds a fuel counter and a call counter per defined function to a
//! module's bytes, before wasmtime compiles it.
//!
//! Every defined function gets two mutable i64 globals, exported as `__gh_fuel_<index>` and
//! `__gh_calls_<index>` (`<index>` in the function index space, imports included), and the
//! module gets one more, `__gh_profile_overhead`. A probe at the start of every straight-line
//! run of operators (the function entry and after each control operator, see [`ends_run`])
//! adds the fuel wasmtime 48 charges for the whole run ([`op_cost`], as in its default
//! `OperatorCost` table, plus the 1 it charges on every function entry) to the function's fuel
//! counter, and the probe's own cost to the overhead counter. Operators whose cost depends on an
//! operand (`memory.copy`, `memory.fill`, `memory.init`, `table.*` bulk operators, GC array
//! bulk operators: one fuel per byte or element, the count on top of the stack) also add that
//! count at run time. So the fuel counters sum to exactly what the unmodified module is
//! charged, and the metered fuel minus the overhead counter is the same number.
//!
//! Function names come from the `name` section (Rust symbols demangled, without their hash);
//! cargo's release wasm keeps it, `wasm-opt` drops it unless run with `-g`, and then functions
//! are `func[INDEX]`.
//!
//! Indices: the new globals come after the imported and defined ones, so no existing index
//! changes; the function bodies get at most two extra scratch locals after their own.

use anyhow::{anyhow, bail};
use wasm_encoder::reencode::{Error as ReencodeError, Reencode, utils};
use wasm_encoder::{
    CodeSection, ConstExpr, ExportKind, ExportSection, Function, GlobalSection, GlobalType, Instruction, SectionId,
    ValType,
};
use wasmparser::{FunctionBody, Operator, Parser};

use super::scan::Scan;
pub use super::scan::{CALLS_PREFIX, FUEL_PREFIX, OVERHEAD_EXPORT};
use super::{FunctionInfo, ProfileMap};

/// wasmparser's limit on exports (the rewrite adds two per defined function).
const MAX_EXPORTS: usize = 100_000;

/// An instrumented module and what its counters mean.
pub struct Instrumented {
    pub bytes: Vec<u8>,
    pub map: ProfileMap,
}

/// Rewrites `wasm` (a core module in binary form) with fuel and call counters.
pub fn instrument(wasm: &[u8]) -> anyhow::Result<Instrumented> {
    let scan = Scan::new(wasm)?;
    let defined = scan.defined_types.len();
    if scan.exports + 2 * defined + 1 > MAX_EXPORTS {
        bail!("{defined} functions are too many to profile (more than {MAX_EXPORTS} exports)");
    }
    let mut rewriter = Rewriter { scan, next_defined: 0, globals_done: false, exports_done: false };
    let mut module = wasm_encoder::Module::new();
    rewriter
        .parse_core_module(&mut module, Parser::new(0), wasm)
        .map_err(|e| anyhow!("instrumenting for the fuel profile: {e}"))?;
    let scan = &rewriter.scan;
    let functions = (0..defined as u32)
        .map(|d| {
            let index = scan.imported_funcs + d;
            let name = match scan.names.get(&index) {
                // `{:#}`: Rust symbols demangled without their hash; other names as they are.
                Some(name) => format!("{:#}", rustc_demangle::demangle(name)),
                None => format!("func[{index}]"),
            };
            FunctionInfo { index, name }
        })
        .collect();
    Ok(Instrumented { bytes: module.finish(), map: ProfileMap { functions, named: !scan.names.is_empty() } })
}

/// The fuel wasmtime 48 charges for one operator by default (`default_operator_cost` in
/// wasmtime-environ's `tunables.rs`); operand-dependent costs come from [`per_unit_cost`].
pub fn op_cost(op: &Operator<'_>) -> i64 {
    match op {
        Operator::Nop | Operator::Drop => 0,
        Operator::Block { .. }
        | Operator::Loop { .. }
        | Operator::Unreachable
        | Operator::Return
        | Operator::Else
        | Operator::End => 0,
        _ => 1,
    }
}

/// Does control possibly not continue with the next operator (or arrive there from elsewhere)?
/// Then the operator is the last of its run and a new run (with its own probe) starts after it.
fn ends_run(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::Else
            | Operator::End
            | Operator::Br { .. }
            | Operator::BrIf { .. }
            | Operator::BrTable { .. }
            | Operator::BrOnNull { .. }
            | Operator::BrOnNonNull { .. }
            | Operator::BrOnCast { .. }
            | Operator::BrOnCastFail { .. }
            | Operator::BrOnCastDescEq { .. }
            | Operator::BrOnCastDescEqFail { .. }
            | Operator::Return
            | Operator::Unreachable
            | Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::ReturnCallRef { .. }
            | Operator::Try { .. }
            | Operator::TryTable { .. }
            | Operator::Catch { .. }
            | Operator::CatchAll
            | Operator::Delegate { .. }
            | Operator::Throw { .. }
            | Operator::Rethrow { .. }
            | Operator::ThrowRef
    )
}

/// The width of an index: a 64-bit memory or table takes i64 counts.
#[derive(Clone, Copy, PartialEq)]
enum Width {
    I32,
    I64,
}

/// wasmtime 48's default per-unit fuel (`VariableOperatorCost::new`) for an operator whose
/// cost grows with its count operand (always the top of the stack), and that operand's width.
/// `memory.grow` costs nothing per page by default.
fn per_unit_cost(op: &Operator<'_>, scan: &Scan) -> Option<(i64, Width)> {
    let mem = |m: u32| if scan.memory64.get(m as usize).copied().unwrap_or(false) { Width::I64 } else { Width::I32 };
    let table = |t: u32| if scan.table64.get(t as usize).copied().unwrap_or(false) { Width::I64 } else { Width::I32 };
    let min = |a: Width, b: Width| if a == Width::I64 && b == Width::I64 { Width::I64 } else { Width::I32 };
    let width = match *op {
        Operator::MemoryCopy { dst_mem, src_mem } => min(mem(dst_mem), mem(src_mem)),
        Operator::MemoryFill { mem: m } => mem(m),
        Operator::TableCopy { dst_table, src_table } => min(table(dst_table), table(src_table)),
        Operator::TableFill { table: t } | Operator::TableGrow { table: t } => table(t),
        Operator::MemoryInit { .. }
        | Operator::TableInit { .. }
        | Operator::ArrayCopy { .. }
        | Operator::ArrayFill { .. }
        | Operator::ArrayNew { .. }
        | Operator::ArrayNewDefault { .. }
        | Operator::ArrayNewData { .. }
        | Operator::ArrayNewElem { .. }
        | Operator::ArrayInitData { .. }
        | Operator::ArrayInitElem { .. } => Width::I32,
        _ => return None,
    };
    Some((1, width))
}

/// Binary order of the non-custom sections (the tag section sits between memory and global).
fn section_rank(id: Option<SectionId>) -> u8 {
    match id {
        Some(SectionId::Type) => 1,
        Some(SectionId::Import) => 2,
        Some(SectionId::Function) => 3,
        Some(SectionId::Table) => 4,
        Some(SectionId::Memory) => 5,
        Some(SectionId::Tag) => 6,
        Some(SectionId::Global) => 7,
        Some(SectionId::Export) => 8,
        Some(SectionId::Start) => 9,
        Some(SectionId::Element) => 10,
        Some(SectionId::DataCount) => 11,
        Some(SectionId::Code) => 12,
        Some(SectionId::Data) => 13,
        Some(SectionId::Custom) => 0,
        None => u8::MAX,
    }
}

struct Rewriter {
    scan: Scan,
    /// Defined functions re-encoded so far.
    next_defined: u32,
    globals_done: bool,
    exports_done: bool,
}

impl Rewriter {
    fn add_globals(&mut self, globals: &mut GlobalSection) {
        let ty = GlobalType { val_type: ValType::I64, mutable: true, shared: false };
        for _ in 0..2 * self.scan.defined_types.len() + 1 {
            globals.global(ty, &ConstExpr::i64_const(0));
        }
        self.globals_done = true;
    }

    fn add_exports(&mut self, exports: &mut ExportSection) {
        for d in 0..self.scan.defined_types.len() as u32 {
            let index = self.scan.imported_funcs + d;
            exports.export(&format!("{FUEL_PREFIX}{index}"), ExportKind::Global, self.scan.fuel_global(d));
            exports.export(&format!("{CALLS_PREFIX}{index}"), ExportKind::Global, self.scan.calls_global(d));
        }
        exports.export(OVERHEAD_EXPORT, ExportKind::Global, self.scan.overhead_global());
        self.exports_done = true;
    }
}

/// `global[g] += value`: four operators.
fn add_to_global(out: &mut Vec<Instruction<'_>>, global: u32, value: i64) {
    out.extend([
        Instruction::GlobalGet(global),
        Instruction::I64Const(value),
        Instruction::I64Add,
        Instruction::GlobalSet(global),
    ]);
}

impl Reencode for Rewriter {
    type Error = String;

    fn parse_global_section(
        &mut self,
        globals: &mut GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), ReencodeError<String>> {
        utils::parse_global_section(self, globals, section)?;
        self.add_globals(globals);
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), ReencodeError<String>> {
        utils::parse_export_section(self, exports, section)?;
        self.add_exports(exports);
        Ok(())
    }

    /// Adds the global and export sections where the module has none.
    fn intersperse_section_hook(
        &mut self,
        module: &mut wasm_encoder::Module,
        _after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), ReencodeError<String>> {
        if !self.globals_done && section_rank(before) > section_rank(Some(SectionId::Global)) {
            let mut globals = GlobalSection::new();
            self.add_globals(&mut globals);
            module.section(&globals);
        }
        if !self.exports_done && section_rank(before) > section_rank(Some(SectionId::Export)) {
            let mut exports = ExportSection::new();
            self.add_exports(&mut exports);
            module.section(&exports);
        }
        Ok(())
    }

    /// Drops DWARF sections (their code offsets no longer hold); keeps the rest.
    fn parse_custom_section(
        &mut self,
        module: &mut wasm_encoder::Module,
        section: wasmparser::CustomSectionReader<'_>,
    ) -> Result<(), ReencodeError<String>> {
        if section.name().starts_with(".debug_") {
            return Ok(());
        }
        utils::parse_custom_section(self, module, section)
    }

    fn parse_function_body(
        &mut self,
        code: &mut CodeSection,
        func: FunctionBody<'_>,
    ) -> Result<(), ReencodeError<String>> {
        let defined = self.next_defined;
        self.next_defined += 1;
        let ty = self.scan.defined_types.get(defined as usize).copied();
        let params = ty
            .and_then(|t| self.scan.type_params.get(t as usize).copied().flatten())
            .ok_or_else(|| ReencodeError::UserError(format!("function body {defined} has no function type")))?;
        let mut locals = Vec::new();
        let mut local_count = params;
        for pair in func.get_locals_reader()? {
            let (n, ty) = pair?;
            local_count = local_count.saturating_add(n);
            locals.push((n, self.val_type(ty)?));
        }
        let mut ops = Vec::new();
        let mut reader = func.get_operators_reader()?;
        while !reader.eof() {
            ops.push(reader.read()?);
        }
        // Scratch locals for the count operand of operand-costed operators, when there are any.
        let widths: Vec<Width> = ops.iter().filter_map(|op| per_unit_cost(op, &self.scan)).map(|(_, w)| w).collect();
        let scratch32 = widths.contains(&Width::I32).then(|| {
            locals.push((1, ValType::I32));
            local_count += 1;
            local_count - 1
        });
        let scratch64 = widths.contains(&Width::I64).then(|| {
            locals.push((1, ValType::I64));
            local_count += 1;
            local_count - 1
        });
        let (fuel, calls, overhead) =
            (self.scan.fuel_global(defined), self.scan.calls_global(defined), self.scan.overhead_global());

        let mut f = Function::new(locals);
        // The current run: its operators (and operand probes), the fuel wasmtime charges for
        // them, and the fuel the operand probes cost.
        let mut run: Vec<Instruction<'_>> = Vec::new();
        let (mut run_fuel, mut run_overhead) = (1, 0); // wasmtime charges 1 on function entry
        let mut entry = true;
        for op in ops {
            if let Some((per_unit, width)) = per_unit_cost(&op, &self.scan) {
                let scratch = if width == Width::I64 { scratch64 } else { scratch32 };
                let scratch = scratch.ok_or_else(|| ReencodeError::UserError("no scratch local".to_string()))?;
                let start = run.len();
                run.extend([
                    Instruction::LocalTee(scratch),
                    Instruction::GlobalGet(fuel),
                    Instruction::LocalGet(scratch),
                ]);
                if width == Width::I32 {
                    run.push(Instruction::I64ExtendI32U);
                }
                if per_unit != 1 {
                    run.extend([Instruction::I64Const(per_unit), Instruction::I64Mul]);
                }
                run.extend([Instruction::I64Add, Instruction::GlobalSet(fuel)]);
                run_overhead += (run.len() - start) as i64;
            }
            run_fuel += op_cost(&op);
            let last = ends_run(&op);
            run.push(self.instruction(op)?);
            if last {
                let mut probe = Vec::new();
                if entry || run_fuel > 0 {
                    add_to_global(&mut probe, fuel, run_fuel);
                    if entry {
                        add_to_global(&mut probe, calls, 1);
                    }
                    // The probe's own operators: these four plus the ones above.
                    run_overhead += probe.len() as i64 + 4;
                    add_to_global(&mut probe, overhead, run_overhead);
                }
                for i in probe.iter().chain(run.iter()) {
                    f.instruction(i);
                }
                run.clear();
                (run_fuel, run_overhead, entry) = (0, 0, false);
            }
        }
        if !run.is_empty() {
            return Err(ReencodeError::UserError(format!("function body {defined} does not end with `end`")));
        }
        code.function(&f);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use wasmtime::{Engine, Instance, Linker, Module, Store, Val};

    use super::*;

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.consume_fuel(true);
        Engine::new(&config).unwrap()
    }

    /// Runs `export(args)` on a fresh instance of `wasm`; answers the fuel metered and the
    /// instance (with its store) for reading counters.
    fn run(engine: &Engine, wasm: &[u8], export: &str, args: &[Val]) -> (u64, Store<()>, Instance) {
        let module = Module::new(engine, wasm).unwrap();
        let mut store = Store::new(engine, ());
        let mut linker = Linker::new(engine);
        linker.func_wrap("env", "host", |x: i32| x + 1).unwrap();
        let ty = wasmtime::GlobalType::new(wasmtime::ValType::I32, wasmtime::Mutability::Const);
        let base = wasmtime::Global::new(&mut store, ty, Val::I32(3)).unwrap();
        linker.define(&mut store, "env", "base", base).unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        store.set_fuel(1_000_000).unwrap();
        let func = instance.get_func(&mut store, export).unwrap();
        let mut results = vec![Val::I32(0); func.ty(&store).results().len()];
        func.call(&mut store, args, &mut results).unwrap();
        (1_000_000 - store.get_fuel().unwrap(), store, instance)
    }

    fn counter(store: &mut Store<()>, instance: &Instance, name: &str) -> u64 {
        instance.get_global(&mut *store, name).unwrap().get(&mut *store).i64().unwrap() as u64
    }

    /// (fuel, calls) per defined function, and the overhead counter.
    fn counters(store: &mut Store<()>, instance: &Instance, map: &ProfileMap) -> (Vec<(u64, u64)>, u64) {
        let per_function = map
            .functions
            .iter()
            .map(|f| {
                (
                    counter(store, instance, &format!("{FUEL_PREFIX}{}", f.index)),
                    counter(store, instance, &format!("{CALLS_PREFIX}{}", f.index)),
                )
            })
            .collect();
        (per_function, counter(store, instance, OVERHEAD_EXPORT))
    }

    const LOOP: &str = r#"(module
      (func $count (export "count") (param $k i32) (result i32)
        (local $i i32)
        (loop $l
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (local.get $k))))
        (local.get $i)))"#;

    #[test]
    fn a_loop_run_k_times_counts_exactly() {
        let engine = engine();
        let wasm = wat::parse_str(LOOP).unwrap();
        let out = instrument(&wasm).unwrap();
        assert_eq!(out.map.functions.len(), 1);
        assert_eq!(out.map.functions[0].name, "count", "from the name section");
        for k in [1, 2, 7, 100] {
            // Entry: 1 (charged on entry) + `loop` 0; each iteration: 8 operators up to and
            // including `br_if`; after the loop: `local.get` 1 (the `end`s cost nothing).
            let expected = 8 * k as u64 + 2;
            let (plain, _, _) = run(&engine, &wasm, "count", &[Val::I32(k)]);
            assert_eq!(plain, expected, "wasmtime's own count for k = {k}");
            let (metered, mut store, instance) = run(&engine, &out.bytes, "count", &[Val::I32(k)]);
            let (per_function, overhead) = counters(&mut store, &instance, &out.map);
            assert_eq!(per_function, vec![(expected, 1)], "k = {k}");
            assert_eq!(metered - overhead, expected, "the overhead counter is exactly the probes' cost");
        }
    }

    /// Every kind of control flow and the operand-costed bulk operators, in a module with an
    /// imported function and global.
    const MIXED: &str = r#"(module
      (import "env" "host" (func $host (param i32) (result i32)))
      (import "env" "base" (global $base i32))
      (memory 1)
      (table 4 funcref)
      (elem (i32.const 0) $leaf $tail $leaf)
      (data $d "0123456789abcdef")
      (type $t (func (param i32) (result i32)))
      (func $leaf (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
      (func $tail (param i32) (result i32) (return_call $leaf (i32.add (local.get 0) (global.get $base))))
      (func $main (param $n i32) (result i32)
        (local $acc i32)
        (block $out
          (block $b2 (block $b1 (block $b0
            (br_table $b0 $b1 $b2 $out (i32.rem_u (local.get $n) (i32.const 4))))
            (local.set $acc (call $leaf (local.get $n))) (br $out))
            (local.set $acc (call_indirect (type $t) (local.get $n) (i32.const 1))) (br $out))
          (local.set $acc (call $host (local.get $n))))
        (if (i32.gt_u (local.get $n) (i32.const 5))
          (then (memory.fill (i32.const 100) (i32.const 7) (local.get $n)))
          (else (memory.copy (i32.const 200) (i32.const 100) (i32.mul (local.get $n) (i32.const 9)))
                (drop (i32.const 1)) (nop)))
        (memory.init $d (i32.const 300) (i32.const 2) (i32.rem_u (local.get $n) (i32.const 14)))
        (if (i32.eqz (local.get $n)) (then (return (i32.const -1))))
        (loop $l
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $l (i32.gt_s (local.get $n) (i32.const 0))))
        (local.get $acc))
      (func (param i32) (result i32) (call $main (local.get 0)))
      (global $keep (mut i32) (i32.const 0))
      (export "main" (func 4)))"#;

    #[test]
    fn counters_sum_to_what_wasmtime_charges_the_unmodified_module() {
        let engine = engine();
        // Also without a global section of its own (the rewrite adds one).
        let bare = MIXED.replace("(global $keep (mut i32) (i32.const 0))", "");
        for source in [MIXED.to_string(), bare] {
            let wasm = wat::parse_str(&source).unwrap();
            let out = instrument(&wasm).unwrap();
            let names: Vec<&str> = out.map.functions.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(names, ["leaf", "tail", "main", "func[4]"]);
            for n in 0..12 {
                let (plain, _, _) = run(&engine, &wasm, "main", &[Val::I32(n)]);
                let (metered, mut store, instance) = run(&engine, &out.bytes, "main", &[Val::I32(n)]);
                let (per_function, overhead) = counters(&mut store, &instance, &out.map);
                let total: u64 = per_function.iter().map(|(fuel, _)| fuel).sum();
                assert_eq!(total, plain, "n = {n}: {per_function:?}");
                assert_eq!(metered - overhead, plain, "n = {n}");
                let calls: Vec<u64> = per_function.iter().map(|(_, calls)| *calls).collect();
                let leaf = u64::from(n % 4 <= 1);
                assert_eq!(calls, vec![leaf, u64::from(n % 4 == 1), 1, 1], "n = {n}");
            }
        }
    }

    #[test]
    fn a_module_without_globals_and_exports_gets_both_sections() {
        let wasm = wat::parse_str("(module (memory 1) (func $f) (start $f) (data (i32.const 0) \"x\"))").unwrap();
        let out = instrument(&wasm).unwrap();
        let module = Module::new(&engine(), &out.bytes).unwrap();
        let exports: Vec<&str> = module.exports().map(|e| e.name()).collect();
        assert_eq!(exports, ["__gh_fuel_0", "__gh_calls_0", OVERHEAD_EXPORT]);
    }

    #[test]
    fn without_names_functions_are_numbered_and_reserved_names_are_refused() {
        // No `$name`s: wat writes no name section.
        let mut wasm = wat::parse_str("(module (func (export \"f\")))").unwrap();
        let out = instrument(&wasm).unwrap();
        assert_eq!(out.map.functions[0].name, "func[0]");
        assert!(!out.map.named);
        wasm = wat::parse_str("(module (global (export \"__gh_fuel_0\") i32 (i32.const 0)))").unwrap();
        let err = instrument(&wasm).err().unwrap().to_string();
        assert!(err.contains("reserves"), "{err}");
    }
}
