//! Builds the task shim (`csrc/task.c`): the recovery point of a task and the fault handler, which need
//! `sigsetjmp()`/`siglongjmp()` and a signal handler's view of the faulting context.

fn main() {
    println!("cargo:rerun-if-changed=csrc/task.c");
    cc::Build::new().file("csrc/task.c").warnings(true).compile("kmem_task");
}
