// kharness guest PID 1: mounts the basics, loads modules, runs each manifest program with a timeout and
// speaks docs/guest-protocol.md over the virtio ports, then powers the VM off. Static, no shell needed.

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "verdict.h"

#define PROTOCOL_VERSION 1
#define RESULTS_PORT "org.kharness.results"
#define CONTROL_PORT "org.kharness.control"
#define MANIFEST "/kharness/manifest"
#define MODULES "/kharness/modules"
#define OUTPUT_CAP_DEFAULT (16ull * 1024 * 1024)
#define HEARTBEAT_MS 2000
/* A line longer than this is emitted in pieces so one endless line cannot exhaust memory. */
#define LINE_MAX_BYTES 4096
#define PATH_MAX_BYTES 4096
/* After a program exits, how long stragglers that escaped its group may keep the pipe open. */
#define DRAIN_GRACE_MS 1000
/* How long to wait for virtio ports to show up after module load (device probe is asynchronous). */
#define PORT_WAIT_MS 3000
/* At shutdown, how long processes still running get between SIGTERM and SIGKILL. */
#define SHUTDOWN_GRACE_MS 2000

static int console_fd = -1;
static int kmsg_fd = -1;
static int results_fd = -1;
static int control_fd = -1;
static int sig_fd = -1;
static int64_t next_heartbeat;
/* Per-program output cap; `kharness.output_cap=BYTES` on the kernel command line changes it. */
static unsigned long long output_cap = OUTPUT_CAP_DEFAULT;
/* `kharness.console_results=1`: the results stream goes to the serial console between the markers
 * below, for a machine whose only channel is that console (a LAVA qemu device); no virtio ports. */
static int console_results;
/* `kharness.rootfs=DEV`: programs run chrooted in the ext4 file system on DEV, mounted at ROOTFS_DIR
 * (docs/rootfs.md); init itself stays in the initramfs. rootfs_err is why it could not be mounted. */
#define ROOTFS_DIR "/rootfs"
/* How long the disk may take to appear after virtio_blk loads (probing is asynchronous; TCG is slow). */
#define ROOTFS_WAIT_MS 10000
static char rootfs_dev[64];
static int rootfs_ready;
static int rootfs_err;
#define CONSOLE_RESULTS_BEGIN "<<<KHARNESS-RESULTS-BEGIN>>>"
#define CONSOLE_RESULTS_END "<<<KHARNESS-RESULTS-END>>>"

static int64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes all of buf, retrying short writes and EINTR; a dead fd is simply given up on. */
static void write_all(int fd, const char *buf, size_t len) {
	while (fd >= 0 && len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void fdprintf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fdprintf(int fd, const char *fmt, ...) {
	/* Room for a result line with a very long program name and its directive. */
	char buf[8192];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	write_all(fd, buf, (size_t)n);
}

/* Diagnostics for humans go to the serial console, where the host keeps them in console.log. */
#define say(...) fdprintf(console_fd, "kharness-init: " __VA_ARGS__)

/* Kernel-log marker, so kernel reports interleave with it in order on the console. Level 5 (notice)
 * is shown at the loglevel the host sets, without looking like a warning. */
static void kmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void kmsg(const char *fmt, ...) {
	char buf[600];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + 3, sizeof(buf) - 4, fmt, ap);
	va_end(ap);
	if (n < 0 || kmsg_fd < 0)
		return;
	if ((size_t)n > sizeof(buf) - 5)
		n = sizeof(buf) - 5;
	memcpy(buf, "<5>", 3);
	buf[3 + n] = '\n';
	write_all(kmsg_fd, buf, (size_t)n + 4);
}

static void control(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void control(const char *fmt, ...) {
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || control_fd < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n] = '\n';
	write_all(control_fd, buf, (size_t)n + 1);
}

static void heartbeat_if_due(void) {
	int64_t t = now_ms();
	if (t >= next_heartbeat) {
		control("heartbeat");
		next_heartbeat = t + HEARTBEAT_MS;
	}
}

static void mount_one(const char *src, const char *dir, const char *type, unsigned long flags, const char *data) {
	mkdir(dir, 0755);
	if (mount(src, dir, type, flags, data) < 0 && errno != EBUSY)
		say("mount %s on %s failed: %s\n", type, dir, strerror(errno));
}

static void setup_console(void) {
	/* The kernel opens /dev/console for us when the initramfs has it; if not, open it ourselves
	 * after devtmpfs is mounted so diagnostics still reach the serial console. */
	if (fcntl(1, F_GETFD) < 0) {
		int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	console_fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
}

static void mount_basics(void) {
	mount_one("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_one("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	setup_console();
	mkdir("/dev/pts", 0755);
	mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,mode=0620");
	mkdir("/dev/shm", 01777);
	mount_one("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mount_one("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	/* Optional: tests that need them (tracing, cgroups) can find them mounted; absence is fine. */
	mkdir("/sys/kernel/debug", 0755);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	mkdir("/sys/fs/cgroup", 0755);
	mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (kmsg_fd < 0)
		say("cannot open /dev/kmsg: %s (no kernel-log markers)\n", strerror(errno));
}

/* Reads a whole small file into a NUL-terminated heap buffer; NULL when absent. */
static char *read_file(const char *path) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			break;
		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* Loads one module; returns 0 when it is in the kernel afterwards, else errno. */
static int load_module(const char *path) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	/* finit_module lets the kernel read (and check) the file itself; EEXIST means built in or
	 * already loaded, which is what we wanted. */
	int err = syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST ? errno : 0;
	close(fd);
	return err;
}

/* Loads the listed modules in order. The list should already be in dependency order; if it is not,
 * modules that failed are retried while any other one loads, so a misordered list still converges. */
/* The value of the last `key=...` word on the command line (key includes the '='), or NULL. */
static const char *cmdline_value(const char *cmdline, const char *key) {
	const char *found = NULL;
	for (const char *p = strstr(cmdline, key); p; p = strstr(p + 1, key))
		/* Only whole words: the key must start the line or follow a space. */
		if (p == cmdline || p[-1] == ' ')
			found = p + strlen(key);
	return found;
}

static void read_cmdline_options(void) {
	char *cmdline = read_file("/proc/cmdline");
	if (!cmdline)
		return;
	const char *v = cmdline_value(cmdline, "kharness.output_cap=");
	if (v) {
		unsigned long long cap = strtoull(v, NULL, 0);
		if (cap > 0)
			output_cap = cap;
	}
	v = cmdline_value(cmdline, "kharness.rootfs=");
	if (v)
		snprintf(rootfs_dev, sizeof(rootfs_dev), "%.*s", (int)strcspn(v, " \n"), v);
	v = cmdline_value(cmdline, "kharness.console_results=");
	if (v)
		console_results = *v == '1' || *v == 'y' || *v == 'Y';
	free(cmdline);
}

static void load_modules(void) {
	char *list = read_file(MODULES);
	if (!list)
		return;
	char *mods[512];
	int errs[512];
	int n = 0;
	char *save = NULL;
	for (char *line = strtok_r(list, "\n", &save); line && n < 512; line = strtok_r(NULL, "\n", &save))
		if (*line && *line != '#')
			mods[n++] = line;
	for (int i = 0; i < n; i++)
		errs[i] = -1;
	for (int progress = 1; progress;) {
		progress = 0;
		for (int i = 0; i < n; i++) {
			if (errs[i] == 0)
				continue;
			errs[i] = load_module(mods[i]);
			if (errs[i] == 0)
				progress = 1;
		}
	}
	for (int i = 0; i < n; i++) {
		if (errs[i] == ENOENT && access(mods[i], R_OK) == 0)
			say("module %s: load failed: unknown symbols (a dependency missing from %s? the kernel log names them)\n", mods[i], MODULES);
		else if (errs[i])
			say("module %s: load failed: %s\n", mods[i], strerror(errs[i]));
	}
	free(list);
}

/* What the host put under ROOTFS_ADD (a tree's kselftest install tree) goes into the root file system at the same
 * place below its `/`: moved, so the initramfs' copy frees its memory. 0 or an errno; *what names the failed path. */
#define ROOTFS_ADD "/kharness/rootfs-add"
static char rootfs_add_failed[PATH_MAX_BYTES];

static int move_tree(const char *src, const char *dst) {
	struct stat st;
	if (lstat(src, &st) < 0)
		return errno;
	int err = 0;
	if (S_ISDIR(st.st_mode)) {
		/* A directory the image already has (/, /opt) keeps its mode; a new one gets the tree's, past the umask. */
		if (mkdir(dst, st.st_mode & 07777) == 0) {
			if (chmod(dst, st.st_mode & 07777) < 0)
				err = errno;
		} else if (errno != EEXIST)
			err = errno;
		DIR *d = err ? NULL : opendir(src);
		if (!err && !d)
			err = errno;
		for (struct dirent *e; d && !err && (e = readdir(d));) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char s2[PATH_MAX_BYTES], d2[PATH_MAX_BYTES];
			if ((size_t)snprintf(s2, sizeof(s2), "%s/%s", src, e->d_name) >= sizeof(s2) ||
			    (size_t)snprintf(d2, sizeof(d2), "%s/%s", dst, e->d_name) >= sizeof(d2)) {
				snprintf(rootfs_add_failed, sizeof(rootfs_add_failed), "%s/%s", src, e->d_name);
				err = ENAMETOOLONG;
				break;
			}
			err = move_tree(s2, d2);
		}
		if (d)
			closedir(d);
		if (!err)
			rmdir(src);
	} else if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX_BYTES];
		ssize_t n = readlink(src, target, sizeof(target) - 1);
		if (n < 0)
			err = errno;
		else {
			target[n] = '\0';
			unlink(dst);
			if (symlink(target, dst) < 0)
				err = errno;
			else
				unlink(src);
		}
	} else if (S_ISREG(st.st_mode)) {
		int in = open(src, O_RDONLY | O_CLOEXEC);
		int out = in < 0 ? -1 : open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777);
		if (in < 0 || out < 0)
			err = errno;
		static char buf[1 << 16];
		for (ssize_t n; !err && (n = read(in, buf, sizeof(buf))) != 0;) {
			if (n < 0) {
				if (errno != EINTR)
					err = errno;
				continue;
			}
			for (ssize_t off = 0; off < n && !err;) {
				ssize_t w = write(out, buf + off, (size_t)(n - off));
				if (w < 0 && errno != EINTR)
					err = errno;
				else if (w > 0)
					off += w;
			}
		}
		if (!err && fchmod(out, st.st_mode & 07777) < 0)
			err = errno;
		if (out >= 0 && close(out) < 0 && !err)
			err = errno;
		if (in >= 0)
			close(in);
		if (!err)
			unlink(src);
	}
	if (err && !rootfs_add_failed[0])
		snprintf(rootfs_add_failed, sizeof(rootfs_add_failed), "%s", dst);
	return err;
}

/* Mounts the root file system of `kharness.rootfs=` at ROOTFS_DIR with /proc, /sys, /dev, /tmp and /run
 * inside it, and our /kharness bound over its /kharness, so a program's paths are the same chrooted. */
static void mount_rootfs(void) {
	if (!rootfs_dev[0])
		return;
	for (int64_t until = now_ms() + ROOTFS_WAIT_MS; access(rootfs_dev, F_OK) < 0 && now_ms() < until;)
		usleep(20 * 1000);
	mkdir(ROOTFS_DIR, 0755);
	if (mount(rootfs_dev, ROOTFS_DIR, "ext4", MS_NOATIME, NULL) < 0) {
		rootfs_err = errno;
		say("rootfs %s: mount failed: %s (every program is an ERROR; is virtio_blk in the kernel or the initramfs, and the image ext4?)\n",
		    rootfs_dev, strerror(errno));
		return;
	}
	if (access(ROOTFS_ADD, F_OK) == 0) {
		int64_t started = now_ms();
		int err = move_tree(ROOTFS_ADD, ROOTFS_DIR);
		if (err) {
			rootfs_err = err;
			say("rootfs: cannot install %s into it: %s (every program is an ERROR; is the image full?)\n", rootfs_add_failed, strerror(err));
			return;
		}
		say("rootfs: installed the files of %s into it in %lld ms\n", ROOTFS_ADD, (long long)(now_ms() - started));
	}
	static const char *const binds[] = { "/dev", "/sys", "/kharness" };
	for (size_t i = 0; i < sizeof(binds) / sizeof(binds[0]); i++) {
		char dir[128];
		snprintf(dir, sizeof(dir), "%s%s", ROOTFS_DIR, binds[i]);
		mkdir(dir, 0755);
		if (mount(binds[i], dir, NULL, MS_BIND | MS_REC, NULL) < 0) {
			rootfs_err = errno;
			say("rootfs: bind of %s failed: %s\n", binds[i], strerror(errno));
			return;
		}
	}
	mount_one("proc", ROOTFS_DIR "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	/* What udev or an initramfs makes on a booted system and devtmpfs lacks: bash's `/dev/fd/N` (exec's execveat
	 * runs scripts through it) and the std streams. */
	static const char *const fdlinks[][2] = {
		{ "/proc/self/fd", "/dev/fd" }, { "/proc/self/fd/0", "/dev/stdin" }, { "/proc/self/fd/1", "/dev/stdout" }, { "/proc/self/fd/2", "/dev/stderr" }
	};
	for (size_t i = 0; i < sizeof(fdlinks) / sizeof(fdlinks[0]); i++)
		if (symlink(fdlinks[i][0], fdlinks[i][1]) < 0 && errno != EEXIST)
			say("rootfs: cannot link %s to %s: %s\n", fdlinks[i][1], fdlinks[i][0], strerror(errno));
	mount_one("tmpfs", ROOTFS_DIR "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mount_one("tmpfs", ROOTFS_DIR "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	rootfs_ready = 1;
	say("rootfs %s mounted; programs run chrooted in it\n", rootfs_dev);
}

/* Finds /dev/vportNpM whose sysfs name matches; returns an open fd or -1. */
static int open_port(const char *want, int flags) {
	DIR *d = opendir("/sys/class/virtio-ports");
	if (!d)
		return -1;
	struct dirent *e;
	int fd = -1;
	while (fd < 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[300], name[128];
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		int nf = open(path, O_RDONLY | O_CLOEXEC);
		if (nf < 0)
			continue;
		ssize_t n = read(nf, name, sizeof(name) - 1);
		close(nf);
		if (n <= 0)
			continue;
		name[n] = '\0';
		name[strcspn(name, "\n")] = '\0';
		if (strcmp(name, want) != 0)
			continue;
		snprintf(path, sizeof(path), "/dev/%s", e->d_name);
		fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			say("port %s (%s): cannot open: %s\n", want, path, strerror(errno));
	}
	closedir(d);
	return fd;
}

static void open_ports(void) {
	int64_t deadline = now_ms() + PORT_WAIT_MS;
	for (;;) {
		if (results_fd < 0)
			results_fd = open_port(RESULTS_PORT, O_WRONLY);
		if (control_fd < 0)
			control_fd = open_port(CONTROL_PORT, O_WRONLY);
		if ((results_fd >= 0 && control_fd >= 0) || now_ms() >= deadline)
			break;
		usleep(20 * 1000);
	}
	if (control_fd < 0)
		say("control port %s not found: the host sees no heartbeats\n", CONTROL_PORT);
	if (results_fd < 0) {
		say("results port %s not found: writing the results stream to /dev/console instead\n", RESULTS_PORT);
		results_fd = console_fd;
	}
}

struct program {
	char *name;
	char *path;
	int timeout_sec;
	char *cwd;
	char **argv; /* argv[0] = path, NULL-terminated */
};

/* Parses the manifest (name TAB path TAB timeout TAB cwd TAB args...); bad lines are reported. */
static struct program *parse_manifest(char *text, int *count) {
	int cap = 16, n = 0;
	struct program *progs = calloc((size_t)cap, sizeof(*progs));
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line && progs; line = strtok_r(NULL, "\n", &save)) {
		if (!*line || *line == '#')
			continue;
		char *fields[256];
		int nf = 0;
		for (char *p = line; nf < 255;) {
			fields[nf++] = p;
			char *tab = strchr(p, '\t');
			if (!tab)
				break;
			*tab = '\0';
			p = tab + 1;
		}
		if (nf < 4) {
			say("manifest: skipping malformed line starting '%.60s'\n", fields[0]);
			continue;
		}
		if (n == cap) {
			struct program *np = realloc(progs, sizeof(*progs) * (size_t)(cap *= 2));
			if (!np)
				break;
			progs = np;
		}
		struct program *pr = &progs[n++];
		pr->name = fields[0];
		pr->path = fields[1];
		pr->timeout_sec = atoi(fields[2]);
		if (pr->timeout_sec <= 0)
			pr->timeout_sec = 45;
		pr->cwd = strcmp(fields[3], "-") == 0 ? "/" : fields[3];
		pr->argv = calloc((size_t)(nf - 4 + 2), sizeof(char *));
		if (!pr->argv) {
			n--;
			break;
		}
		pr->argv[0] = pr->path;
		for (int i = 4; i < nf; i++)
			pr->argv[i - 3] = fields[i];
	}
	*count = n;
	return progs;
}

/* One program's output on its way to the results port: "# "-prefixed lines, capped in total. */
struct outbuf {
	char line[LINE_MAX_BYTES];
	size_t len;
	uint64_t total;
	int truncated;
};

static void out_flush_line(struct outbuf *o) {
	char buf[LINE_MAX_BYTES + 4];
	memcpy(buf, "# ", 2);
	memcpy(buf + 2, o->line, o->len);
	buf[2 + o->len] = '\n';
	write_all(results_fd, buf, o->len + 3);
	o->len = 0;
}

static void out_push(struct outbuf *o, const char *data, size_t n) {
	for (size_t i = 0; i < n; i++) {
		if (o->truncated)
			return;
		if (o->total >= output_cap) {
			if (o->len)
				out_flush_line(o);
			fdprintf(results_fd, "# kharness: output truncated after %llu bytes\n", (unsigned long long)o->total);
			o->truncated = 1;
			return;
		}
		o->total++;
		char c = data[i];
		if (c == '\n') {
			out_flush_line(o);
			continue;
		}
		o->line[o->len++] = c;
		if (o->len == sizeof(o->line))
			out_flush_line(o);
	}
}

/* What init has seen of the program it runs. */
struct watch {
	pid_t pid;
	int done;       /* a terminal status (exit or signal) arrived */
	int status;
	int stopped;    /* 0, or the signal of a ptrace stop (the program made init its tracer) */
};

/* Reaps every exited child (we are PID 1, orphans land here); records what happened to w->pid. */
static void reap(struct watch *w) {
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p <= 0)
			return;
		if (!w || p != w->pid)
			continue;
		/* Only a traced child reports a stop here (no WUNTRACED): it is not an end. */
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			w->status = st;
			w->done = 1;
		} else if (WIFSTOPPED(st) && !w->stopped) {
			w->stopped = WSTOPSIG(st);
		}
	}
}

static void drain_signalfd(void) {
	struct signalfd_siginfo si;
	while (read(sig_fd, &si, sizeof(si)) > 0) {
	}
}

static const char *signame(int sig) {
	static char buf[32];
	const char *abbrev = sigabbrev_np(sig);
	if (abbrev)
		snprintf(buf, sizeof(buf), "SIG%s", abbrev);
	else
		snprintf(buf, sizeof(buf), "SIG%d", sig);
	return buf;
}

static void exec_child(const struct program *pr, int out_fd) {
	/* Own session and process group, so a timeout kill reaches everything the program started. */
	setsid();
	/* Ignored signals stay ignored across exec: give the program the defaults PID 1 does not use. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int nul = open("/dev/null", O_RDONLY);
	if (nul >= 0 && nul != 0) {
		dup2(nul, 0);
		close(nul);
	}
	dup2(out_fd, 1);
	dup2(out_fd, 2);
	if (out_fd > 2)
		close(out_fd);
	if (rootfs_ready && chroot(ROOTFS_DIR) < 0) {
		fprintf(stderr, "kharness: cannot chroot to %s: %s\n", ROOTFS_DIR, strerror(errno));
		_exit(127);
	}
	if (chdir(pr->cwd) < 0) {
		fprintf(stderr, "kharness: cannot chdir to %s: %s\n", pr->cwd, strerror(errno));
		_exit(127);
	}
	setenv("KHARNESS_KMSG", "1", 1);
	setenv("KHARNESS_PROGRAM", pr->name, 1);
	execv(pr->path, pr->argv);
	fprintf(stderr, "kharness: cannot execute %s: %s\n", pr->path, strerror(errno));
	_exit(127);
}

/* Reports a program init could not start: ERROR (the program never ran), never a test failure or a pass. */
static void start_failed(const struct program *pr, int n, const char *what, int err) {
	fdprintf(results_fd, "not ok %d %s # ERROR init could not start it: %s: %s\n", n, pr->name, what, strerror(err));
	control("end %s error", pr->name);
	kmsg("kharness: end %s", pr->name);
}

/* Waits up to ms for pid to be reaped (after init killed it); the status is not needed. */
static void reap_killed(pid_t pid, int ms) {
	for (int64_t until = now_ms() + ms; now_ms() < until;) {
		pid_t p = waitpid(pid, NULL, WNOHANG);
		if (p == pid || (p < 0 && errno == ECHILD))
			return;
		usleep(10 * 1000);
	}
}

/* Runs one program to its end; prints its result line (number n). */
static void run_program(const struct program *pr, int n) {
	kmsg("kharness: start %s", pr->name);
	control("start %s", pr->name);
	fdprintf(results_fd, "# selftests: kharness: %s\n", pr->name);
	if (rootfs_dev[0] && !rootfs_ready) {
		start_failed(pr, n, "rootfs", rootfs_err ? rootfs_err : ENODEV);
		return;
	}

	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		start_failed(pr, n, "pipe", errno);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		exec_child(pr, pfd[1]);
	}
	int fork_err = errno;
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		start_failed(pr, n, "fork", fork_err);
		return;
	}
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);

	struct outbuf *out = calloc(1, sizeof(*out));
	if (!out)
		fdprintf(results_fd, "# kharness: out of memory: the output of %s is not forwarded\n", pr->name);
	int64_t deadline = now_ms() + (int64_t)pr->timeout_sec * 1000;
	int64_t drain_until = -1;
	struct watch w = { .pid = pid };
	int timed_out = 0, pipe_open = 1;
	/* Why init lost track of the program; the result is then ERROR whatever the program did. */
	char lost[256] = "";
	char buf[65536];

	while (pipe_open || !w.done) {
		int64_t t = now_ms();
		heartbeat_if_due();
		if (!w.done && !timed_out && t >= deadline) {
			timed_out = 1;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
		}
		if (w.stopped && !lost[0]) {
			/* Init never resumes a tracee: the program cannot end by itself any more. */
			snprintf(lost, sizeof(lost), "the program stopped under ptrace (signal %d, %s) with init as its tracer, so it never ended", w.stopped, signame(w.stopped));
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
		}
		if (w.done && drain_until < 0) {
			/* The program is gone: whatever it left in its group goes too, so the pipe closes. */
			kill(-pid, SIGKILL);
			drain_until = t + DRAIN_GRACE_MS;
		}
		if (drain_until >= 0 && t >= drain_until)
			break;
		int64_t wake = next_heartbeat;
		if (!w.done && !timed_out && deadline < wake)
			wake = deadline;
		if (drain_until >= 0 && drain_until < wake)
			wake = drain_until;
		int ms = wake > t ? (int)(wake - t) : 0;
		struct pollfd fds[2] = {{.fd = pipe_open ? pfd[0] : -1, .events = POLLIN}, {.fd = sig_fd, .events = POLLIN}};
		int r = poll(fds, 2, ms);
		if (r < 0 && errno != EINTR) {
			/* Nothing more can be read or waited for: the output may be cut and the end unseen. */
			snprintf(lost, sizeof(lost), "init lost track of the program: poll failed: %s", strerror(errno));
			say("%s: %s\n", pr->name, lost);
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			reap_killed(pid, 2000);
			break;
		}
		if (fds[1].revents & POLLIN) {
			drain_signalfd();
			reap(&w);
		}
		if (pipe_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			for (;;) {
				ssize_t got = read(pfd[0], buf, sizeof(buf));
				if (got > 0) {
					if (out)
						out_push(out, buf, (size_t)got);
					continue;
				}
				if (got == 0 || (errno != EAGAIN && errno != EINTR))
					pipe_open = 0;
				break;
			}
		}
		/* A SIGCHLD can coalesce with one we already consumed; a cheap poll for it keeps us honest. */
		if (!w.done)
			reap(&w);
	}
	close(pfd[0]);
	if (out && out->len)
		out_flush_line(out);
	free(out);

	struct program_end e = { .timed_out = timed_out, .reaped = w.done, .status = w.status, .lost = lost[0] ? lost : NULL };
	char line[8192], how[32];
	program_verdict(&e, n, pr->name, pr->timeout_sec, signame, line, sizeof(line), how, sizeof(how));
	fdprintf(results_fd, "%s", line);
	control("end %s %s", pr->name, how);
	kmsg("kharness: end %s", pr->name);
}

/*
 * Ends what is still running before power-off, as any init does: SIGTERM, a grace period, then SIGKILL.
 * Daemons that left their program's process group get here (their panics and reports land before the
 * power-off, and the host sees them). Every user process descends from init and orphans come to it,
 * so "init has no child" means nothing is left.
 */
static void stop_leftovers(void) {
	reap(NULL);
	if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
		return;
	say("shutdown: sending SIGTERM to the processes still running\n");
	kill(-1, SIGTERM);
	for (int pass = 0; pass < 2; pass++) {
		for (int64_t until = now_ms() + (pass ? 1000 : SHUTDOWN_GRACE_MS); now_ms() < until;) {
			heartbeat_if_due();
			pid_t p = waitpid(-1, NULL, WNOHANG);
			if (p < 0 && errno == ECHILD)
				return;
			if (p == 0)
				usleep(20 * 1000);
		}
		if (pass == 0) {
			say("shutdown: sending SIGKILL to the processes that outlived SIGTERM\n");
			kill(-1, SIGKILL);
		}
	}
}

static void power_off(void) {
	control("poweroff");
	kmsg("kharness: poweroff");
	sync();
	reboot(RB_POWER_OFF);
	/* Only reached if power-off is not possible; PID 1 must never exit (that panics the kernel). */
	say("reboot(RB_POWER_OFF) failed: %s\n", strerror(errno));
	for (;;)
		pause();
}

int main(void) {
	if (getpid() != 1) {
		fprintf(stderr, "kharness-init: must run as PID 1 inside the guest\n");
		return 2;
	}
	/* SIGCHLD arrives through a signalfd so the wait loop can poll it along with the output pipe;
	 * the other signals the kernel may send PID 1 (SIGINT on ctrl-alt-del, SIGTERM) are ignored. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	mount_basics();
	setenv("PATH", "/kharness/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
	setenv("HOME", "/tmp", 1);
	setenv("TMPDIR", "/tmp", 1);
	read_cmdline_options();
	load_modules();
	mount_rootfs();
	if (console_results) {
		/* The console is the only channel: no port wait, no control events (kmsg markers still go out). */
		results_fd = console_fd;
	} else {
		open_ports();
	}
	next_heartbeat = now_ms() + HEARTBEAT_MS;
	control("init %d", PROTOCOL_VERSION);
	kmsg("kharness: init %d", PROTOCOL_VERSION);

	char *manifest = read_file(MANIFEST);
	int count = 0;
	struct program *progs = NULL;
	if (manifest)
		progs = parse_manifest(manifest, &count);
	else
		say("%s not found: nothing to run\n", MANIFEST);

	/* The markers start a line of their own, whatever the kernel printed last without a newline. */
	if (console_results)
		fdprintf(results_fd, "\n%s\n", CONSOLE_RESULTS_BEGIN);
	fdprintf(results_fd, "KTAP version 1\n1..%d\n", count);
	for (int i = 0; i < count; i++)
		run_program(&progs[i], i + 1);

	stop_leftovers();
	/* After the leftovers are gone, so their reports land inside what a LAVA monitor collects. */
	if (console_results)
		fdprintf(results_fd, "\n%s\n", CONSOLE_RESULTS_END);
	power_off();
	return 0;
}
