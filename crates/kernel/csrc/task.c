// SPDX-License-Identifier: GPL-2.0
//
// The two things of a task the simulator cannot do in Rust: leave module code for good when the
// simulated kernel kills the task (an oops), and turn a hardware fault in module code (SIGSEGV/SIGBUS
// on the host) into that oops instead of the end of the process.
//
// kmem_task_run() runs a function with a recovery point set (sigsetjmp). kmem_task_abort() returns to
// it (siglongjmp): the frames in between, the module's, are abandoned as the kernel abandons the stack
// of a task it kills, without running anything on the way. The fault handler runs on an alternate
// signal stack; inside a task it records the fault (address, host instruction and stack pointer, the
// x86 page-fault error code, the host return addresses) and returns to the recovery point. Outside a
// task, or while the task is in simulator code, a fault is a bug of the host program: the handler
// hands it to the handler that was installed before (Rust's stack-overflow report) or to the default
// action.

#define _GNU_SOURCE
#include <execinfo.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

#define KMEM_FAULT_IPS 64

struct kmem_fault {
	uintptr_t addr;
	uintptr_t ip;
	uintptr_t sp;
	long error_code;
	int signo;
	int si_code;
	int nr_ips;
	uintptr_t ips[KMEM_FAULT_IPS];
};

static __thread sigjmp_buf *task_jb;
static __thread struct kmem_fault *task_fault;
/* Set while module code runs (the Rust side clears it around simulator calls). */
static __thread int task_in_module;

static struct sigaction old_segv, old_bus;

static void chain(int sig, siginfo_t *si, void *uc)
{
	struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;

	if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
		old->sa_sigaction(sig, si, uc);
		return;
	}
	if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
		return;
	}
	/* Returning re-executes the faulting instruction, which now takes the default action. */
	signal(sig, SIG_DFL);
}

static void fault_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	struct kmem_fault *f = task_fault;
	sigjmp_buf *jb = task_jb;

	if (!jb || !f || !task_in_module) {
		chain(sig, si, ucv);
		return;
	}
	f->addr = (uintptr_t)si->si_addr;
	f->ip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	f->sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
	f->error_code = (long)uc->uc_mcontext.gregs[REG_ERR];
	f->signo = sig;
	f->si_code = si->si_code;
	/* A fault from here on is the handler's own, and takes the default action (SIGSEGV is blocked). */
	task_in_module = 0;
	/* backtrace() unwinds through the signal frame; kmem_task_install() loaded the unwinder. */
	f->nr_ips = backtrace((void **)f->ips, KMEM_FAULT_IPS);
	siglongjmp(*jb, 2);
}

/* Installs the fault handler once per process. Returns 0, or -1 if sigaction failed. */
int kmem_task_install(void)
{
	static int installed;
	struct sigaction sa;
	void *warm[1];

	if (__atomic_load_n(&installed, __ATOMIC_ACQUIRE))
		return 0;
	/* The first backtrace() loads the unwinder; never let that happen inside the handler. */
	backtrace(warm, 1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fault_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (__atomic_exchange_n(&installed, 1, __ATOMIC_ACQ_REL))
		return 0;
	if (sigaction(SIGSEGV, &sa, &old_segv) || sigaction(SIGBUS, &sa, &old_bus))
		return -1;
	return 0;
}

/*
 * Runs fn(arg) with a recovery point. Returns 0 when fn returned, 1 when kmem_task_abort() ended it,
 * 2 when a fault in module code ended it (*fault says what happened). Nests: an inner task's
 * recovery point is restored when it ends.
 */
int kmem_task_run(void (*fn)(void *), void *arg, struct kmem_fault *fault)
{
	sigjmp_buf jb;
	sigjmp_buf *volatile prev_jb = task_jb;
	struct kmem_fault *volatile prev_fault = task_fault;
	volatile int prev_in = task_in_module;
	int r;

	r = sigsetjmp(jb, 1);
	if (r == 0) {
		task_jb = &jb;
		task_fault = fault;
		fn(arg);
	}
	task_jb = prev_jb;
	task_fault = prev_fault;
	task_in_module = prev_in;
	return r;
}

/* Ends the current task (kmem_task_run() returns 1). Only called inside one. */
void kmem_task_abort(void)
{
	task_in_module = 0;
	siglongjmp(*task_jb, 1);
}

int kmem_task_active(void)
{
	return task_jb != 0;
}

/* Whether module code runs now; returns the previous value. */
int kmem_task_set_in_module(int on)
{
	int prev = task_in_module;

	task_in_module = on;
	return prev;
}
