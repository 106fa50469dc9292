/* Kernel-like types for tests/dwarf_types.rs: compiled with `cc -g -O0`, converted from
 * DWARF to BTF by qmdb, and checked member by member against gdb's `ptype /o`.
 * Compiled twice: the second unit (-DSECOND_UNIT) defines every type again, as each unit of
 * a vmlinux does, and defines `struct opaque_thing`, which the first only declares. */

#include <stddef.h>

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed int s32;
typedef long long s64;
typedef u32 __kernel_uid_t;
typedef __kernel_uid_t uid_t_chain;
typedef int pid_t;

struct list_head {
	struct list_head *next, *prev;
};

struct hlist_node {
	struct hlist_node *next, **pprev;
};

/* Only declared: stays a forward declaration. */
struct opaque_thing;

enum task_state {
	TASK_NEGATIVE = -2,
	TASK_RUNNING = 0,
	TASK_INTERRUPTIBLE = 1,
	TASK_UNINTERRUPTIBLE = 2,
};

enum big_flags {
	BIG_LOW = 1,
	BIG_HIGH = 0x100000000ULL,
	BIG_TOP = 0x8000000000000000ULL,
};

enum small_unsigned {
	SMALL_A = 1,
	SMALL_B = 0xfffffff0u,
};

struct sched_entity {
	u64 vruntime;
	struct list_head group_node;
	unsigned int on_rq;
};

struct cred;

struct thread_struct {
	unsigned long sp;
	unsigned short es, ds;
	unsigned long fsbase;
	unsigned long debugreg[2][4];
};

typedef void (*work_func_t)(struct list_head *work, int flags, ...);

struct task_struct {
	volatile long state;
	void *stack;
	unsigned int flags;
	/* Bitfields: unsigned, signed, crossing a byte boundary, a zero-width break. */
	unsigned sched_reset_on_fork : 1;
	unsigned sched_contributes_to_load : 1;
	unsigned sched_migrated : 1;
	signed int prio_delta : 5;
	unsigned long crossing : 11;
	unsigned : 0;
	unsigned in_execve : 1;
	u8 small_field : 3;
	_Bool in_iowait : 1;
	enum task_state bf_state : 4;
	int prio;
	struct sched_entity se;
	struct list_head tasks;
	union {
		struct hlist_node pid_links;
		struct {
			int anon_a;
			short anon_b;
		};
	};
	struct {
		u32 nested_x;
		u64 nested_y;
	} named_anon;
	pid_t pid;
	pid_t tgid;
	uid_t_chain uid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	const struct cred *real_cred;
	const struct cred *volatile cred;
	char comm[16];
	struct thread_struct thread;
	work_func_t work;
	int (*callback)(const char *restrict name, void *data);
	struct opaque_thing *opaque;
	enum task_state state_enum;
	enum big_flags big;
	enum small_unsigned small;
	__int128 wide;
	unsigned __int128 uwide;
	long double ld;
	double d;
	float f;
	_Bool flag;
	const volatile int *cv_ptr;
	int *const const_ptr;
	int matrix[3][5];
	char cube[2][3][4];
};

struct __attribute__((packed)) packed_header {
	u8 kind;
	u32 length;
	u16 flags;
	u64 addr;
	unsigned bits_a : 3;
	unsigned bits_b : 9;
};

union value {
	u64 raw;
	s32 signed_word;
	double d;
	u8 bytes[8];
	struct {
		u32 lo;
		u32 hi;
	};
};

struct flex_buffer {
	u32 len;
	u16 kind;
	u8 data[];
};

struct zero_len {
	int count;
	int entries[0];
};

struct self_ref {
	struct self_ref *left, *right;
	struct self_ref *parent;
	int key;
};

/* Mutual references through pointers. */
struct ping;
struct pong {
	struct ping *peer;
	int n;
};
struct ping {
	struct pong *peer;
	struct pong embedded;
};

typedef struct {
	int counter;
} atomic_t;

typedef struct {
	s64 counter;
} atomic64_t;

struct uses_typedefs {
	atomic_t refs;
	atomic64_t big_refs;
	uid_t_chain owner;
	const atomic_t *const_refs;
	size_t size;
};

struct signed_bits {
	signed char sc : 3;
	short sh : 7;
	long long ll : 33;
	unsigned long long ull : 31;
	int after;
};

#ifdef SECOND_UNIT

struct opaque_thing {
	int secret;
	struct opaque_thing *next;
};

struct opaque_thing second_opaque;
struct task_struct second_task;
struct uses_typedefs second_ut;
struct ping second_ping;
union value second_val;
struct packed_header second_ph;
struct signed_bits second_sb;
struct self_ref second_root;
struct flex_buffer *second_flex;
struct zero_len *second_zl;

#else

/* Every type is reachable from a global, so the compiler keeps its DWARF. */
struct task_struct init_task;
struct packed_header ph;
union value val;
struct flex_buffer *flex;
struct zero_len *zl;
struct self_ref root;
struct ping pi;
struct uses_typedefs ut;
struct signed_bits sb;
enum task_state st;

int main(void)
{
	init_task.pid = 1;
	return (int)sizeof(init_task) + st;
}

#endif
