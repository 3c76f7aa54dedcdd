/* SPDX-License-Identifier: MIT */
/*
 * zcrx detection: unified_net_zcrx_probe() on interfaces that cannot do
 * zero-copy receive (lo and a veth in a private network namespace) must
 * answer EOPNOTSUPP with a clear line, which on 6.15+ also means the
 * kernel accepted every field of the request before looking at the
 * driver.  The request structs are checked member by member against the
 * running kernel's BTF (/sys/kernel/btf/vmlinux), read here with a small
 * BTF reader (the format of Documentation/bpf/btf.rst).
 */
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include "helpers.h"
#include "../../lib/uapi_compat.h"

/* ------------------------------------------------------------ BTF */

struct btf_hdr {
	uint16_t magic;
	uint8_t version, flags;
	uint32_t hdr_len, type_off, type_len, str_off, str_len;
};

struct btf_t {
	uint32_t name_off, info, size;
};

struct btf_m {
	uint32_t name_off, type, offset;
};

static uint8_t *btf;
static size_t btf_size;

static int btf_load(void)
{
	int fd = open("/sys/kernel/btf/vmlinux", O_RDONLY | O_CLOEXEC);
	size_t cap = 8 << 20;
	ssize_t r;

	if (fd < 0)
		return th_skip("no /sys/kernel/btf/vmlinux (kernel without CONFIG_DEBUG_INFO_BTF)");
	btf = malloc(cap);
	while (btf && (r = read(fd, btf + btf_size, cap - btf_size)) > 0) {
		btf_size += (size_t)r;
		if (btf_size == cap) {
			cap *= 2;
			btf = realloc(btf, cap);
		}
	}
	close(fd);
	return btf && btf_size > sizeof(struct btf_hdr) &&
	       ((struct btf_hdr *)btf)->magic == 0xeB9F ? 0 : th_fail(-EINVAL, "bad BTF");
}

/* Bytes of kind-specific data after a type record. */
static size_t btf_extra(uint32_t info)
{
	uint32_t kind = (info >> 24) & 0x1f, vlen = info & 0xffff;

	switch (kind) {
	case 1: return 4;		/* INT */
	case 3: return 12;		/* ARRAY */
	case 4: case 5: return 12 * vlen;	/* STRUCT, UNION */
	case 6: return 8 * vlen;	/* ENUM */
	case 13: return 8 * vlen;	/* FUNC_PROTO */
	case 14: return 4;		/* VAR */
	case 15: return 12 * vlen;	/* DATASEC */
	case 17: return 4;		/* DECL_TAG */
	case 19: return 12 * vlen;	/* ENUM64 */
	default: return 0;
	}
}

/* The struct named @name: its record, or NULL. */
static const struct btf_t *btf_struct(const char *name)
{
	const struct btf_hdr *h = (const void *)btf;
	const uint8_t *t = btf + h->hdr_len + h->type_off, *end = t + h->type_len;
	const char *str = (const char *)btf + h->hdr_len + h->str_off;

	while (t + sizeof(struct btf_t) <= end) {
		const struct btf_t *bt = (const void *)t;

		if (((bt->info >> 24) & 0x1f) == 4 && !strcmp(str + bt->name_off, name))
			return bt;
		t += sizeof(*bt) + btf_extra(bt->info);
	}
	return NULL;
}

/* Byte offset of member @m of @bt, or -1. */
static long btf_member(const struct btf_t *bt, const char *m)
{
	const struct btf_hdr *h = (const void *)btf;
	const char *str = (const char *)btf + h->hdr_len + h->str_off;
	const struct btf_m *mm = (const void *)(bt + 1);
	uint32_t i, kflag = bt->info >> 31;

	for (i = 0; i < (bt->info & 0xffff); i++)
		if (!strcmp(str + mm[i].name_off, m))
			return (long)((kflag ? mm[i].offset & 0xffffff : mm[i].offset) / 8);
	return -1;
}

#define MEMBER(kstruct, ours, field) do {							\
	long o_ = btf_member(bt, #field);							\
	CHECK(o_ == (long)__builtin_offsetof(ours, field), "%s.%s at %ld in the kernel, %zu ours",	\
	      kstruct, #field, o_, __builtin_offsetof(ours, field));				\
} while (0)

static void t_zcrx_structs_match_kernel_btf(void)
{
	const struct btf_t *bt;

	NEED(btf_load());
	bt = btf_struct("io_uring_zcrx_ifq_reg");
	if (!bt)
		SKIP("the running kernel has no zcrx (struct io_uring_zcrx_ifq_reg not in its BTF)");
	CHECK(bt->size == sizeof(struct unified_zcrx_ifq_reg), "ifq_reg is %u bytes in the kernel",
	      bt->size);
	MEMBER("io_uring_zcrx_ifq_reg", struct unified_zcrx_ifq_reg, if_idx);
	MEMBER("io_uring_zcrx_ifq_reg", struct unified_zcrx_ifq_reg, if_rxq);
	MEMBER("io_uring_zcrx_ifq_reg", struct unified_zcrx_ifq_reg, rq_entries);
	MEMBER("io_uring_zcrx_ifq_reg", struct unified_zcrx_ifq_reg, flags);
	MEMBER("io_uring_zcrx_ifq_reg", struct unified_zcrx_ifq_reg, area_ptr);
	MEMBER("io_uring_zcrx_ifq_reg", struct unified_zcrx_ifq_reg, region_ptr);
	MEMBER("io_uring_zcrx_ifq_reg", struct unified_zcrx_ifq_reg, offsets);
	MEMBER("io_uring_zcrx_ifq_reg", struct unified_zcrx_ifq_reg, zcrx_id);
	MEMBER("io_uring_zcrx_ifq_reg", struct unified_zcrx_ifq_reg, __resv);
	bt = btf_struct("io_uring_zcrx_area_reg");
	REQUIRE(bt, "io_uring_zcrx_area_reg missing from BTF");
	CHECK(bt->size == sizeof(struct unified_zcrx_area_reg), "area_reg is %u bytes", bt->size);
	MEMBER("io_uring_zcrx_area_reg", struct unified_zcrx_area_reg, addr);
	MEMBER("io_uring_zcrx_area_reg", struct unified_zcrx_area_reg, len);
	MEMBER("io_uring_zcrx_area_reg", struct unified_zcrx_area_reg, rq_area_token);
	MEMBER("io_uring_zcrx_area_reg", struct unified_zcrx_area_reg, flags);
	bt = btf_struct("io_uring_region_desc");
	REQUIRE(bt, "io_uring_region_desc missing from BTF");
	CHECK(bt->size == sizeof(struct unified_zcrx_region_desc), "region_desc is %u bytes", bt->size);
	MEMBER("io_uring_region_desc", struct unified_zcrx_region_desc, user_addr);
	MEMBER("io_uring_region_desc", struct unified_zcrx_region_desc, size);
	MEMBER("io_uring_region_desc", struct unified_zcrx_region_desc, flags);
	MEMBER("io_uring_region_desc", struct unified_zcrx_region_desc, mmap_offset);
}

/* ------------------------------------------------------------ probing */

static bool have_netns, have_veth;

static void setup(void)
{
	char cmd[512];

	if (geteuid() != 0 || unshare(CLONE_NEWNET))
		return;
	have_netns = true;
	snprintf(cmd, sizeof(cmd), "ip link set lo up && ip link add uz0 type veth peer name uz1 && "
		 "ip link set uz0 up && ip link set uz1 up");
	have_veth = system(cmd) == 0;
}

static void probe_expect(const char *ifname, int want, const char *words)
{
	struct th_ctx c;
	struct th_opts o = { 0 };
	struct io_unified_net_reg nr = { 0 };
	int ret;

	o.nbuf = 64;
	o.bufsz = 64 << 10;
	o.net = &nr;
	o.path = getenv("UNIFIED_NET_TARGET");	/* the QEMU guest has no disk file system */
	REQUIRE(!th_open(&c, &o), "registration with network rings");
	ret = unified_net_zcrx_probe(c.ctx, ifname, 0);
	printf("  %s: %d (%s)\n", ifname, ret, unified_errmsg());
	CHECK(ret == want, "%s: %d, want %d", ifname, ret, want);
	CHECK(strstr(unified_errmsg(), words), "message '%s' does not say '%s'", unified_errmsg(), words);
	th_close(&c);
}

static bool kernel_has_zcrx(void)
{
	struct utsname u;
	int a = 0, b = 0;

	uname(&u);
	sscanf(u.release, "%d.%d", &a, &b);
	return a > 6 || (a == 6 && b >= 15);
}

static void t_probe_loopback(void)
{
	if (!have_netns)
		SKIP("needs root for a private network namespace");
	if (kernel_has_zcrx())
		probe_expect("lo", -EOPNOTSUPP, "cannot do zero-copy receive");
	else
		probe_expect("lo", -EOPNOTSUPP, "this kernel has no zero-copy receive");
}

static void t_probe_veth(void)
{
	if (!have_veth)
		SKIP("needs root and iproute2 for a veth pair");
	if (kernel_has_zcrx())
		probe_expect("uz0", -EOPNOTSUPP, "cannot do zero-copy receive");
	else
		probe_expect("uz0", -EOPNOTSUPP, "this kernel has no zero-copy receive");
}

static void t_probe_no_interface(void)
{
	probe_expect("no-such-if0", -ENODEV, "no interface");
}

static void t_probe_without_network_rings(void)
{
	struct th_ctx c;
	struct th_opts o = { 0 };

	o.path = getenv("UNIFIED_NET_TARGET");
	REQUIRE(!th_open(&c, &o), "registration");
	CHECK(unified_net_zcrx_probe(c.ctx, "lo", 0) == -EINVAL, "probe without network rings");
	th_close(&c);
}

int main(int argc, char **argv)
{
	harness_args(argc, argv);
	setup();
	RUN(t_zcrx_structs_match_kernel_btf);
	RUN(t_probe_loopback);
	RUN(t_probe_veth);
	RUN(t_probe_no_interface);
	RUN(t_probe_without_network_rings);
	free(btf);
	return harness_done();
}
