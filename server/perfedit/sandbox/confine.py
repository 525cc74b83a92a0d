"""Confines a sandbox worker and keeps watch over it from outside.

Started by :mod:`perfedit.sandbox.manager` as ``python -I confine.py WRITABLE CMD_FD RESULT_FD
[scratch=PATH scratch_bytes=N output=PATH output_bytes=N readable=PATHS]``, WRITABLE being the
folders a test may write in and PATHS those it may read beside the interpreter's, both joined
with ``os.pathsep``; sizes in bytes. This process (the
keeper) forks the worker, confines it, and execs ``python -I worker.py CMD_FD RESULT_FD
key=value ...`` in it; the ``key=value`` arguments say which guards took effect, and the worker
reports them to the manager. Each guard is applied if the kernel allows it:

* ``pids=namespace``: the worker is PID 1 of new PID and mount namespaces with their own /proc.
  Every orphan is re-parented to it, a test cannot kill it (the kernel does not deliver SIGKILL
  to a namespace's init from inside), and when it dies the kernel kills everything in the
  namespace. Else ``pids=shared``, and the worker is a child subreaper (``orphans=subreaper``),
  so processes escaping with ``setsid`` or a double fork are still re-parented to it.
* ``network=namespace``: a new network namespace (no interface but a loopback that is down),
  and ``ipc=namespace``: a new IPC namespace (System V objects and POSIX message queues of the
  sandbox's own, which the worker removes between test children); else
  ``network=audit-hook`` (the worker refuses socket calls with an audit hook) and
  ``ipc=shared``. Unless
  root, the namespaces live inside a new user namespace mapping the user to itself
  (``userns=1``).
* ``filesystem=landlock-N``: a Landlock domain (ABI N) in which files may be created, written,
  renamed or removed only beneath the WRITABLE folders, ``/dev/shm`` (POSIX semaphores and
  shared memory) and ``/dev/null``; TCP connect and bind are refused (ABI >= 4); abstract Unix
  sockets and signals cannot reach processes outside the domain (ABI >= 6), the keeper included.
* ``scratch=tmpfs-N``: in the worker's own mount namespace (the PID namespace's, or else one
  made for it), a tmpfs of N bytes on the scratch folder (HOME and TMPDIR) with a folder of it
  bound on /dev/shm (``shm=private``), and a tmpfs of ``output_bytes`` on the output folder:
  nothing written there reaches the disk or the host's /dev/shm, and the kernel frees it with
  the namespace's last process. Else ``scratch=disk`` and ``shm=shared``.
* ``mqueue=PATH``: with an IPC namespace and a mount namespace of its own, the IPC namespace's
  POSIX message queues (an ``mqueue`` file system) mounted on the folder ``.mqueue`` of the
  scratch folder, where the worker lists and removes them between test children (Landlock lets
  the tests change files there too; without that rule they could make a queue, but not open
  it). Else ``mqueue=none``.
* ``reads=landlock-N``: the same Landlock domain allows reading (and executing) only beneath
  the interpreter's prefixes and ``sys.path``, this folder, the ``readable`` paths, the
  writable ones and SYSTEM_READABLE. Else, with a mount namespace, ``reads=masked``: empty
  read-only file systems over SECRET_FOLDERS but the way down to those paths; else
  ``reads=none``.
* ``capabilities=dropped``: no-new-privileges, and every capability (bounding set included)
  dropped, so even root cannot leave the namespaces, raise a hard resource limit or re-mount.

The keeper forks nothing before the manager's first byte on CMD_FD (``protocol.GO``): by then
the manager has moved it into the worker's pids cgroup. It is a subreaper outside the sandbox: if
the worker dies (a test killed it), whatever it left is re-parented to the keeper, which kills and reaps it, then exits with the worker's
status. The worker has ``PR_SET_PDEATHSIG``: killing the keeper kills the worker.

The keeper imports ctypes for the system calls, and :mod:`perfedit.sandbox.protocol` with its
own folder put first on ``sys.path`` (under ``-I`` it is not there); it runs no program, and the
worker starts through ``execv`` from a clean interpreter, so nothing is pre-imported for measured
programs.
"""

import ctypes
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import protocol  # noqa: E402 - importable only once HERE is on sys.path

WORKER = os.path.join(HERE, "worker.py")

PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = (
    1,
    2,
    4,
    8,
    1 << 12,
    1 << 14,
    1 << 18,
)
SIGKILL = 9
SWEEP_ROUNDS = 100
CAPABILITY_VERSION_3 = 0x20080522
SYS_LANDLOCK_CREATE_RULESET = 444  # the same number on every architecture
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1

# Landlock filesystem rights: reading (and executing), and those that change the file system.
FS_READ = 1 << 0 | 1 << 2 | 1 << 3  # execute, read_file, read_dir
FS_READ_FILE = 1 << 0 | 1 << 2  # the reading rights a rule on a file (not a folder) may carry
FS_WRITE_FILE = 1 << 1
FS_FILE_RIGHTS = FS_WRITE_FILE | 1 << 14  # write, truncate (ABI >= 3)
FS_TREE_RIGHTS = FS_WRITE_FILE | sum(1 << bit for bit in range(4, 13))  # remove_*, make_*
FS_REFER = 1 << 13  # ABI >= 2
FS_TRUNCATE = 1 << 14  # ABI >= 3
NET_TCP = 1 << 0 | 1 << 1  # bind, connect (ABI >= 4)
SCOPES = 1 << 0 | 1 << 1  # abstract Unix sockets, signals (ABI >= 6)

# What a test may read beside the interpreter, its libraries (``sys.path``), the workspace and
# the READABLE folders: system libraries and programs, /proc, devices, and the few files of /etc
# that the dynamic loader and the C library read. Missing paths are skipped.
SYSTEM_READABLE = (
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/libx32",
    "/bin",
    "/sbin",
    "/proc",
    "/sys/devices/system/cpu",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
    "/dev/full",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/mime.types",
)
# Without Landlock, these folders are hidden under empty read-only file systems (but the paths
# down to anything the sandbox must read, such as an interpreter under /root or /home).
SECRET_FOLDERS = (
    "/root",
    "/home",
    "/etc/ssh",
    "/etc/ssl/private",
    "/var/mail",
    "/var/spool",
    "/var/lib",
    "/var/backups",
    "/run/user",
    "/run/secrets",
    "/srv",
    "/mnt",
    "/media",
    "/opt",
    "/tmp",
    "/var/tmp",
)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long


def _call(function, *args):
    """Call a libc function; True on success (every guard is optional, so errno is not raised)."""
    return function(*args) >= 0


def _unshare(flags):
    """unshare(2) ``flags``, inside a new user namespace that maps this user to itself unless
    root (which needs none); True on success."""
    uid, gid = os.getuid(), os.getgid()
    if os.geteuid() != 0:
        flags |= CLONE_NEWUSER
    if not _call(LIBC.unshare, flags):
        return False
    if flags & CLONE_NEWUSER:
        for path, text in (
            ("setgroups", "deny"),
            ("uid_map", f"{uid} {uid} 1"),
            ("gid_map", f"{gid} {gid} 1"),
        ):
            with open(f"/proc/self/{path}", "w") as handle:
                handle.write(text)
    return True


def _own_proc():
    """In the first process of a new PID namespace: a new mount namespace with a /proc of it."""
    return (
        _call(LIBC.unshare, CLONE_NEWNS)
        and _call(LIBC.mount, None, b"/", None, MS_REC | MS_PRIVATE, None)
        and _call(LIBC.mount, b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    )


def _private_mounts():
    """A new mount namespace whose mounts do not propagate to the host; True on success."""
    return _call(LIBC.unshare, CLONE_NEWNS) and _call(
        LIBC.mount, None, b"/", None, MS_REC | MS_PRIVATE, None
    )


def _exit_code(wait_status):
    code = os.waitstatus_to_exitcode(wait_status)
    return code if code >= 0 else 128 - code


def _pid_namespace_works():
    """Whether a PID namespace with its own /proc can be made here, tried in a throw-away child
    (a process cannot leave a PID namespace once it has asked for one)."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            if _unshare(CLONE_NEWPID):
                init = os.fork()
                if init == 0:
                    os._exit(0 if _own_proc() else 1)
                status = _exit_code(os.waitpid(init, 0)[1])
        finally:
            os._exit(status)
    return _exit_code(os.waitpid(pid, 0)[1]) == 0


def _children():
    """This process's children (of all its threads), from /proc; [] where /proc cannot say."""
    children = []
    for thread in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{thread}/children", "rb") as handle:
                children.extend(int(child) for child in handle.read().split())
        except OSError:
            continue
    return children


def _keep(worker, pipe_fds):
    """The keeper: wait for the worker, kill and reap whatever it left behind (orphans come to
    this subreaper), exit with the worker's status; never returns."""
    for fd in pipe_fds:
        os.close(fd)  # the manager must see end of file when the worker dies
    status = os.waitpid(worker, 0)[1]
    for _ in range(SWEEP_ROUNDS):
        children = _children()
        if not children:
            break
        for child in children:
            try:
                os.kill(child, SIGKILL)
            except ProcessLookupError:
                continue
        for child in children:
            try:
                os.waitpid(child, 0)
            except ChildProcessError:
                continue
    os._exit(_exit_code(status))


def _worker_namespaces(in_new_pid_namespace):
    """In the worker: finish its namespaces; returns the facts for it (see the module docstring)
    and whether it has a mount namespace of its own (never mount anything without one: as root
    the mounts would change the host's)."""
    if in_new_pid_namespace:
        if not _own_proc():
            os._exit(111)  # the probe said it works; never run against another namespace's /proc
        return {
            protocol.PIDS: protocol.NAMESPACE,
            protocol.NETWORK: protocol.NAMESPACE,
            protocol.IPC: protocol.NAMESPACE,
            protocol.ORPHANS: protocol.INIT,
            protocol.USERNS: protocol.YES if os.geteuid() != 0 else protocol.NO,
        }, True
    network = _unshare(CLONE_NEWNET | CLONE_NEWIPC)
    own_mounts = (
        _private_mounts()
    )  # as root, or as root of the user namespace made for the network one
    return {
        protocol.PIDS: protocol.SHARED,
        protocol.NETWORK: protocol.NAMESPACE if network else protocol.AUDIT_HOOK,
        protocol.IPC: protocol.NAMESPACE if network else protocol.SHARED,
        protocol.USERNS: protocol.YES if network and os.geteuid() != 0 else protocol.NO,
        protocol.ORPHANS: protocol.SUBREAPER
        if _call(LIBC.prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        else protocol.NONE,
    }, own_mounts


def _scratch(scratch, size_bytes, output, output_bytes, writable):
    """Mount a tmpfs of ``size_bytes`` on the folder ``scratch`` and one of ``output_bytes`` on
    ``output`` beneath it (in the worker's own mount namespace: the host never sees what is
    written there, and the kernel frees it when the last process of the namespace ends), make
    the ``writable`` folders beneath ``scratch`` again, and bind its folder ``.shm`` on
    /dev/shm: HOME, TMPDIR and /dev/shm share one cap; the captured output has its own, so a
    test that fills the first still has its failure reported. Returns the SCRATCH and SHM facts."""

    def tmpfs(path, size):
        options = f"size={size},mode=0700,nr_inodes=65536".encode()
        return _call(LIBC.mount, b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options)

    if not scratch or not tmpfs(scratch, size_bytes):
        return protocol.DISK, protocol.SHARED
    for folder in writable:
        if folder.startswith(scratch + os.sep):
            os.makedirs(folder, mode=0o700, exist_ok=True)
    if output and not tmpfs(output, output_bytes):
        os._exit(
            112
        )  # the output folder would share the scratch cap unnoticed: never run like that
    shm = os.path.join(scratch, ".shm")
    os.mkdir(shm, 0o700)
    private = os.path.isdir("/dev/shm") and _call(
        LIBC.mount, shm.encode(), b"/dev/shm", None, MS_BIND, None
    )
    return f"{protocol.TMPFS}{size_bytes}", protocol.PRIVATE if private else protocol.SHARED


def _message_queues(scratch):
    """Mount the IPC namespace's ``mqueue`` file system on the folder ``.mqueue`` of ``scratch``
    (in the worker's own mount and IPC namespaces: the queues listed there are the sandbox's
    own); its path, or "" if it could not be mounted."""
    if not scratch:
        return ""
    folder = os.path.join(scratch, ".mqueue")
    try:
        os.mkdir(folder, 0o700)
    except OSError:
        return ""
    mounted = _call(
        LIBC.mount, b"mqueue", folder.encode(), b"mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, None
    )
    return folder if mounted else ""


def _mask_secrets(keep):
    """Without Landlock: mount an empty read-only tmpfs over each of SECRET_FOLDERS, or, where
    one holds a ``keep`` path (the interpreter, the workspace), over each of its entries but the
    way down to it. Returns True if every mount took."""
    keep = [os.path.realpath(path) for path in keep]
    ok = True

    def hide(path):
        nonlocal ok
        if any(k == path or k.startswith(path + os.sep) for k in keep):
            if (
                os.path.isdir(path)
                and not os.path.islink(path)
                and not any(k == path for k in keep)
            ):
                for entry in os.listdir(path):
                    hide(os.path.join(path, entry))
            return
        if os.path.islink(path) or not os.path.exists(path):
            return
        if os.path.isdir(path):
            ok &= _call(
                LIBC.mount,
                b"tmpfs",
                path.encode(),
                b"tmpfs",
                MS_RDONLY | MS_NOSUID | MS_NODEV,
                b"size=4k,mode=0555",
            )
        else:
            ok &= _call(LIBC.mount, b"/dev/null", path.encode(), None, MS_BIND, None)

    for folder in SECRET_FOLDERS:
        try:
            hide(os.path.realpath(folder))
        except OSError:
            ok = False
    return ok


def _readable(extra):
    """What the worker may read: the interpreter, its ``sys.path``, this folder, the ``extra``
    folders (the workspace, ...) and SYSTEM_READABLE."""
    interpreter = {
        sys.prefix,
        sys.exec_prefix,
        sys.base_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
    }
    return [
        path for path in (*sorted(interpreter), *sys.path, HERE, *extra, *SYSTEM_READABLE) if path
    ]


def _landlock(writable, readable):
    """Restrict writes to the ``writable`` folders, /dev/shm and /dev/null, and reads to those
    and the ``readable`` paths; returns the ABI version in force, or 0 if Landlock is not
    available."""
    abi = LIBC.syscall(SYS_LANDLOCK_CREATE_RULESET, None, 0, LANDLOCK_CREATE_RULESET_VERSION)
    if abi < 1:
        return 0
    tree = FS_TREE_RIGHTS | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0)
    files = FS_FILE_RIGHTS if abi >= 3 else FS_WRITE_FILE
    attr = _RulesetAttr(tree | FS_READ, NET_TCP if abi >= 4 else 0, SCOPES if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = LIBC.syscall(
        SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0
    )
    if ruleset < 0:
        return 0
    rules = (
        *((path, FS_READ) for path in readable),
        *((folder, tree | FS_READ) for folder in writable),
        ("/dev/shm", tree | FS_READ),
        ("/dev/null", files | FS_READ_FILE),
    )
    try:
        for path, rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # not here (no /lib32, no /dev/shm): nothing to allow
            try:
                if not os.path.isdir(f"/proc/self/fd/{fd}"):
                    rights &= (
                        FS_FILE_RIGHTS | FS_READ_FILE
                    )  # a file's rule may not carry a folder's rights
                rule = _PathBeneathAttr(rights, fd)
                if (
                    LIBC.syscall(
                        SYS_LANDLOCK_ADD_RULE,
                        ruleset,
                        LANDLOCK_RULE_PATH_BENEATH,
                        ctypes.byref(rule),
                        0,
                    )
                    < 0
                ):
                    return 0
            finally:
                os.close(fd)
        if LIBC.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0) < 0:
            return 0
    finally:
        os.close(ruleset)
    return abi


def _drop_capabilities():
    """Drop every capability, the bounding set included, so an exec cannot regain them."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as handle:
            last = int(handle.read())
    except (OSError, ValueError):
        last = 40
    for cap in range(last + 1):
        LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # fails without CAP_SETPCAP: nothing to drop then
    LIBC.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = _CapHeader(CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    return _call(LIBC.capset, ctypes.byref(header), data)


def main():
    writable, cmd_fd, result_fd = sys.argv[1:4]
    options = dict(argument.partition("=")[::2] for argument in sys.argv[4:])
    writable = [folder for folder in writable.split(os.pathsep) if folder]
    readable = [folder for folder in options.get("readable", "").split(os.pathsep) if folder]
    if os.read(int(cmd_fd), 1) != protocol.GO:
        os._exit(1)  # the manager is gone
    _call(LIBC.prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    in_new_pid_namespace = _pid_namespace_works() and _unshare(
        CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC
    )
    worker = os.fork()
    if worker:
        _keep(worker, (int(cmd_fd), int(result_fd)))
    LIBC.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
    facts, own_mounts = _worker_namespaces(in_new_pid_namespace)
    facts[protocol.SCRATCH], facts[protocol.SHM] = (
        _scratch(
            options.get("scratch", ""),
            int(options.get("scratch_bytes", 0)),
            options.get("output", ""),
            int(options.get("output_bytes", 0)),
            writable,
        )
        if own_mounts
        else (protocol.DISK, protocol.SHARED)
    )
    queues = (
        _message_queues(options.get("scratch", ""))
        if own_mounts and facts[protocol.IPC] == protocol.NAMESPACE
        else ""
    )
    facts[protocol.MQUEUE] = queues or protocol.NONE
    _call(LIBC.prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    abi = _landlock([*writable, *([queues] if queues else [])], _readable(readable))
    facts[protocol.FILESYSTEM] = f"{protocol.LANDLOCK}{abi}" if abi else protocol.NONE
    if abi:
        facts[protocol.READS] = f"{protocol.LANDLOCK}{abi}"
    elif own_mounts and _mask_secrets([*_readable(readable), *writable]):
        facts[protocol.READS] = protocol.MASKED
    else:
        facts[protocol.READS] = protocol.NONE
    facts[protocol.CAPABILITIES] = protocol.DROPPED if _drop_capabilities() else protocol.KEPT
    os.execv(
        sys.executable,
        [sys.executable, "-I", WORKER, cmd_fd, result_fd, *protocol.facts_to_args(facts)],
    )


if __name__ == "__main__":
    main()
