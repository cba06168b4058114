"""deploy/docker: vecmeshd's container image, checked without a container engine.

Usage: image_test.py VECMESHD (or VECMESH_DAEMON=VECMESHD): the vecmeshd binary built here.

1. The runtime package list (deploy/docker/runtime-packages.txt, the one list the Dockerfile
   installs) provides every shared library `ldd vecmeshd` reports: each library's path is mapped to
   its Debian package with `dpkg -S` (through /lib and /usr/lib, which are one directory on merged
   /usr, and through symbolic links such as Debian's BLAS alternatives), and that package must be in
   the list or in what the list depends on (apt-cache depends, the first of alternatives unless the
   list names another). The CUDA libraries (no Debian package owns them) must be in the CUDA
   variant's list, and so must the libraries vecmeshd opens itself (cuBLAS: its soname is written in
   the binary). The lists hold no -dev package and no build tool, and Debian has each package.
2. The Dockerfile (read by a small parser of its own, `\\` continuations included): stages on
   Debian bookworm; the build stage runs scripts/install-deps and builds only vecmeshd with the
   options CMakeLists.txt defines; the runtime stage installs from the list, runs as uid 10001, has
   VOLUME /data, EXPOSE of vecmeshd's default ports, ENV VECMESH_HOST=0.0.0.0 and
   VECMESH_DATA_DIR=/data (variables vecmeshd reads), ENTRYPOINT vecmeshd, OCI labels with the
   project's version, no secret, nothing of the test tree; VECMESH_CUDA a build argument, OFF
   by default.
3. The build context: every file the Dockerfile copies exists and gets through .dockerignore
   (matched as Docker documents it: *, ?, **, ! exceptions, the last matching line wins), while
   .git, build trees, data, node_modules, tests and deploy/.env stay out; and CMake configures
   vecmeshd from exactly what the build stage copies (a dry run of its build finds every input).
4. The RUN steps that depend on the build arguments, run here by the stage's shell with stubs for
   apt-get, curl, dpkg, cmake, npm... and their paths moved into a scratch directory: install-deps
   installs the build packages only, without npm; by default nothing comes from NVIDIA, the runtime
   stage installs exactly runtime-packages.txt and cmake gets VECMESH_CUDA=OFF; with
   VECMESH_CUDA=ON, NVIDIA's keyring is fetched and trusted before its lists are installed (the
   runtime stage's after Debian's CA certificates), nvcc is passed to cmake and the loader finds
   the CUDA libraries.
5. The HEALTHCHECK, run as Docker runs it (/bin/sh -c): it succeeds on a server answering 200 on
   GET /health, fails on 503 and when nothing listens, and succeeds against a live vecmeshd over
   HTTP and over HTTPS. It needs busybox (the image's HTTP client) here; it is skipped, saying so,
   without it.
"""
import http.server
import json
import os
import re
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent.parent
sys.path.insert(0, str(SOURCE / "tests" / "support"))
from server_process import ManagedServer  # noqa: E402

DOCKER = SOURCE / "deploy" / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
DOCKERIGNORE = SOURCE / ".dockerignore"
RUNTIME_LIST = DOCKER / "runtime-packages.txt"
CUDA_RUNTIME_LIST = DOCKER / "runtime-packages-cuda.txt"
CUDA_BUILD_LIST = DOCKER / "build-packages-cuda.txt"
INSTALL_DEPS = SOURCE / "scripts" / "install-deps"

DAEMON = None  # set from argv or VECMESH_DAEMON in main

# Build tools, which a runtime image must not hold (besides every -dev package).
BUILD_TOOL = re.compile(r"^(gcc|g\+\+|cpp|clang|llvm|lld|gfortran)(-\d+)?$|^binutils|^cmake|^make$|"
                        r"^ninja-build$|^ccache$|^build-essential$|^pkg-?conf|^autoconf|^automake|"
                        r"^libtool|^protobuf-compiler|^nodejs$|^npm$|^dpkg-dev$|^cuda-nvcc|"
                        r"^cuda-toolkit|^cuda-minimal-build|^cuda-compiler|^cuda-crt|^cuda-nvvm")
DEV_PACKAGE = re.compile(r"-dev(-|$)")
# The CUDA libraries vecmeshd may need, and the NVIDIA package (name without its -MAJOR-MINOR)
# that holds each: libcudart.so.13 is in cuda-cudart-13-0, libcublas.so.13 in libcublas-13-0.
CUDA_LIBRARIES = [(re.compile(r"^libcudart\.so\.(\d+)$"), "cuda-cudart"),
                  (re.compile(r"^libcublas(Lt)?\.so\.(\d+)$"), "libcublas")]
# Standalone sonames in the binary (NUL-terminated strings): dynamic-section names, and the
# libraries vecmeshd opens with dlopen (gpu/src/cublas_loader.cc writes cuBLAS's there).
SONAME_STRING = re.compile(rb"\x00(lib[A-Za-z0-9_+-]+\.so(?:\.\d+)+)\x00")


# --- package lists -------------------------------------------------------------------------------

def read_list(path):
    """The packages of a list: one a line, '#' to the end of a line is a comment (the Dockerfile
    reads it with sed 's/#.*//')."""
    packages = []
    for line in path.read_text().splitlines():
        packages += line.split("#", 1)[0].split()
    return packages


def cuda_version(package):
    """('13', '0') of cuda-cudart-13-0."""
    m = re.search(r"-(\d+)-(\d+)$", package)
    return m.groups() if m else None


# --- libraries and their packages ----------------------------------------------------------------

def ldd(binary):
    """[(name, path)] of the libraries the dynamic loader maps for binary, the loader included.
    The vdso is the kernel's (no file). A library not found fails the test run."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    libraries = []
    for line in out.splitlines():
        line = line.strip()
        if not line or line.startswith("linux-vdso") or line.startswith("linux-gate"):
            continue
        if "=>" in line:
            name, rest = (part.strip() for part in line.split("=>", 1))
            if rest.startswith("not found"):
                raise AssertionError(f"ldd: {name} is not found for {binary}")
            libraries.append((name, rest.split(" (", 1)[0]))
        else:  # the loader: /lib64/ld-linux-x86-64.so.2 (0x...)
            path = line.split(" (", 1)[0]
            libraries.append((os.path.basename(path), path))
    return libraries


def path_aliases(path):
    """The names one library file has for dpkg: as given and resolved, each in /lib and /usr/lib
    (merged /usr makes /lib a link to usr/lib, while packages list either)."""
    names = []
    for p in (path, os.path.realpath(path)):
        for q in (p, re.sub(r"^/usr/(lib|lib64)/", r"/\1/", p), re.sub(r"^/(lib|lib64)/", r"/usr/\1/", p)):
            if q not in names:
                names.append(q)
    return names


def dpkg_owners(paths):
    """{path: set of packages} for the paths, and their aliases, that a Debian package holds."""
    candidates = {path: path_aliases(path) for path in paths}
    queried = sorted({q for names in candidates.values() for q in names})
    # Exit status 1 when some path is no package's: those are just absent from the answer.
    out = subprocess.run(["dpkg-query", "-S", *queried], capture_output=True, text=True,
                         timeout=30).stdout
    owned = {}
    for line in out.splitlines():
        if line.startswith("diversion by") or ": " not in line:
            continue
        packages, path = line.split(": ", 1)
        owned.setdefault(path, set()).update(p.strip().split(":")[0] for p in packages.split(","))
    return {path: set().union(*(owned.get(q, set()) for q in names))
            for path, names in candidates.items()}


def apt_depends(packages):
    """{package: [[alternatives]]} from apt-cache depends (Depends and PreDepends only); a virtual
    package among alternatives stands for its providers. Packages apt does not know are absent."""
    out = subprocess.run(
        ["apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts",
         "--no-breaks", "--no-replaces", "--no-enhances", *sorted(packages)],
        capture_output=True, text=True, timeout=60).stdout
    # Per package: [or-with-next, name, virtual, providers] for each of its dependency lines.
    entries, current = {}, None
    for line in out.splitlines():
        if not line.startswith(" "):
            current = line.strip()
            if not current.startswith("<"):  # a virtual package asked about: not a real one
                entries[current] = []
            continue
        if current not in entries:
            continue
        m = re.match(r"^ (\||\s)(PreDepends|Depends): (<)?([^>\s]+)>?$", line)
        if m:
            entries[current].append([m.group(1) == "|", m.group(4).split(":")[0], bool(m.group(3)), []])
        elif line.startswith("    ") and entries[current] and entries[current][-1][2]:
            entries[current][-1][3].append(line.strip().split(":")[0])  # a provider
    result = {}
    for package, lines in entries.items():
        groups, group = [], []
        for or_next, name, virtual, providers in lines:
            group += providers if virtual else [name]
            if not or_next:
                groups.append(group)
                group = []
        result[package] = [g for g in groups if g]
    return result


def dependency_closure(roots):
    """(closure, unknown): the packages roots bring in through Depends and PreDepends, choosing in
    each or-group one already chosen, else the first (as apt does); and the roots apt does not
    know."""
    chosen, frontier, unknown = set(), set(roots), set()
    while frontier:
        depends = apt_depends(frontier)
        unknown |= {p for p in frontier if p not in depends and p in roots}
        chosen |= frontier
        following = set()
        for groups in depends.values():
            for group in groups:
                if any(p in chosen or p in following for p in group):
                    continue
                following.add(group[0])
        frontier = following - chosen
    return chosen - unknown, unknown


def cuda_package_for(soname, cuda_list):
    """For a CUDA library soname: (the package of cuda_list that provides it or None, what that
    package is called); None when soname is no CUDA library we know."""
    for pattern, stem in CUDA_LIBRARIES:
        m = pattern.match(soname)
        if m:
            major = m.groups()[-1]
            want = f"{stem}-{major}-*"
            for package in cuda_list:
                if package.startswith(f"{stem}-{major}-") and cuda_version(package):
                    return package, want
            return None, want
    return None


def ldconfig_paths():
    """{soname: path} of the loader's cache."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=30).stdout
    paths = {}
    for line in out.splitlines():
        m = re.match(r"^\s*(\S+) \(([^)]*)\) => (\S+)$", line)
        if m and "x86-64" in m.group(2):
            paths.setdefault(m.group(1), m.group(3))
    return paths


# --- the Dockerfile ------------------------------------------------------------------------------

class Instruction:
    def __init__(self, line, keyword, args):
        self.line, self.keyword, self.args = line, keyword, args

    def __repr__(self):
        return f"line {self.line}: {self.keyword} {self.args}"


class Stage:
    def __init__(self, image, name):
        self.image, self.name, self.instructions = image, name, []

    def all(self, keyword):
        return [i for i in self.instructions if i.keyword == keyword]

    def run_text(self):
        return "\n".join(i.args for i in self.all("RUN"))


def parse_dockerfile(text):
    """The instructions of a Dockerfile, in stages: a list of Stage (the instructions before the
    first FROM, ARGs only, go in a stage with image None). A line ending in a backslash goes on
    with the next; comment lines and empty lines inside a continuation are dropped, as Docker
    does."""
    instructions, pending, start = [], None, 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if pending is None:
            if not stripped or stripped.startswith("#"):
                continue
            pending, start = "", number
        elif not stripped or stripped.startswith("#"):
            continue
        if re.search(r"\\\s*$", line):
            pending += re.sub(r"\\\s*$", "", line)
            continue
        pending += line
        keyword, _, args = pending.strip().partition(" ")
        instructions.append(Instruction(start, keyword.upper(), args.strip()))
        pending = None
    if pending is not None:
        raise ValueError(f"line {start}: a continuation runs past the end of the file")
    stages = [Stage(None, None)]
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        stages[-1].instructions.append(instruction)
    return stages


def split_flags(args):
    """({flag: value}, the rest) of an instruction's leading --flag=value words."""
    flags = {}
    while args.startswith("--"):
        word, _, args = args.partition(" ")
        name, _, value = word[2:].partition("=")
        flags[name] = value
        args = args.strip()
    return flags, args


def json_or_words(args):
    """An instruction's JSON array form, or its whitespace-separated words."""
    if args.startswith("["):
        return json.loads(args)
    return args.split()


def env_of(stage):
    """{name: value} of the stage's ENV instructions (key=value pairs, or the old `ENV key value`)."""
    env = {}
    for instruction in stage.all("ENV"):
        words = shlex.split(instruction.args)
        if words and "=" not in words[0]:
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            name, _, value = word.partition("=")
            env[name] = value
    return env


def labels_of(stage):
    labels = {}
    for instruction in stage.all("LABEL"):
        for word in shlex.split(instruction.args):
            name, _, value = word.partition("=")
            labels[name] = value
    return labels


def args_of(stage):
    """{name: default or None} of the stage's ARG instructions."""
    result = {}
    for instruction in stage.all("ARG"):
        name, eq, value = instruction.args.partition("=")
        result[name.strip()] = value.strip() if eq else None
    return result


def copies(stage):
    """[(flags, sources, destination)] of the stage's COPY and ADD instructions."""
    result = []
    for instruction in stage.all("COPY") + stage.all("ADD"):
        flags, rest = split_flags(instruction.args)
        words = json_or_words(rest)
        result.append((flags, words[:-1], words[-1]))
    return result


def healthcheck_of(stage):
    """(options, argv as Docker runs it) of the stage's last HEALTHCHECK: the shell form runs under
    /bin/sh -c."""
    checks = stage.all("HEALTHCHECK")
    if not checks:
        return None, None
    options, rest = split_flags(checks[-1].args)
    keyword, _, command = rest.partition(" ")
    if keyword.upper() != "CMD":
        return options, None
    command = command.strip()
    if command.startswith("["):
        return options, json.loads(command)
    return options, ["/bin/sh", "-c", command]


def daemon_help():
    """{variable: default} of vecmeshd --help."""
    out = subprocess.run([str(DAEMON), "--help"], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    return dict(re.findall(r"\((VECMESH_[A-Z0-9_]+), default '([^']*)'\)", out))


# --- .dockerignore -------------------------------------------------------------------------------

def ignore_pattern(pattern):
    """The regular expression of one .dockerignore pattern (Go's filepath.Match with Docker's **:
    * and ? never cross '/', ** crosses any number of directories)."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out += "(?:.*/)?"
                i += 1
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.index("]", i + 1)
            body = pattern[i + 1:end]
            if body.startswith("^") or body.startswith("!"):
                body = "^" + body[1:]
            out += "[" + body.replace("\\", "\\\\") + "]"
            i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


def read_dockerignore(text):
    """[(exception, regex)] of a .dockerignore: lines trimmed, '#' lines and empty ones skipped,
    '!' for an exception, each pattern cleaned (filepath.Clean) with no leading '/'."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        if exception:
            line = line[1:].strip()
        line = os.path.normpath(line).lstrip("/")
        if line and line != ".":
            rules.append((exception, ignore_pattern(line)))
    return rules


def ignored(rules, path):
    """Whether path (relative to the context, '/'-separated) stays out of the context: the last
    rule matching it, or a directory above it, decides."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for exception, regex in rules:
        if any(regex.match(p) for p in prefixes):
            result = not exception
    return result


# --- tests ---------------------------------------------------------------------------------------

class Dockerignore(unittest.TestCase):
    """The matcher itself, on the examples of Docker's documentation."""

    def test_matcher_follows_dockers_rules(self):
        rules = read_dockerignore("# comment\n*/temp*\n*/*/temp*\ntemp?\n")
        self.assertTrue(ignored(rules, "somedir/temporary.txt"))
        self.assertTrue(ignored(rules, "somedir/temp/file"))
        self.assertTrue(ignored(rules, "somedir/subdir/temporary.txt"))
        self.assertTrue(ignored(rules, "tempa"))
        self.assertFalse(ignored(rules, "temp"))
        self.assertFalse(ignored(rules, "temporary.txt"))
        self.assertFalse(ignored(rules, "a/b/c/temporary.txt"))
        rules = read_dockerignore("**/*.go\n")
        self.assertTrue(ignored(rules, "main.go"))
        self.assertTrue(ignored(rules, "a/b/main.go"))
        rules = read_dockerignore("*.md\n!README*.md\nREADME-secret.md\n")
        self.assertTrue(ignored(rules, "CHANGES.md"))
        self.assertFalse(ignored(rules, "README.md"))
        self.assertTrue(ignored(rules, "README-secret.md"))
        rules = read_dockerignore("/build/\n!build/keep\n")
        self.assertTrue(ignored(rules, "build/x/y.o"))
        self.assertFalse(ignored(rules, "build/keep"))
        self.assertFalse(ignored(rules, "src/build/x"))


class RuntimePackages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.runtime = read_list(RUNTIME_LIST)
        cls.cuda_runtime = read_list(CUDA_RUNTIME_LIST)
        cls.cuda_build = read_list(CUDA_BUILD_LIST)
        cls.closure, cls.unknown = dependency_closure(set(cls.runtime))
        cls.libraries = ldd(DAEMON)
        cls.owners = dpkg_owners([path for _, path in cls.libraries])

    def test_debian_has_every_runtime_package(self):
        self.assertTrue(self.runtime, "the runtime list is empty")
        self.assertEqual(len(self.runtime), len(set(self.runtime)), "a package listed twice")
        self.assertFalse(self.unknown, f"{RUNTIME_LIST.name}: apt knows no package {sorted(self.unknown)} "
                                       "(a typo, or not in Debian bookworm)")

    def test_runtime_list_provides_every_library_ldd_reports(self):
        missing = []
        for name, path in self.libraries:
            owners = self.owners[path]
            if not owners:
                # No Debian package: a CUDA library, which the CUDA list must provide.
                self.assertIsNotNone(cuda_package_for(name, self.cuda_runtime),
                                     f"{name} ({path}): no Debian package holds it, and it is no "
                                     f"CUDA library that {CUDA_RUNTIME_LIST.name} covers")
                continue
            if not owners & self.closure:
                missing.append(f"{name} ({path}) is in package {', '.join(sorted(owners))}")
        self.assertFalse(missing, f"{RUNTIME_LIST.name} does not provide, even through its "
                                  "dependencies:\n  " + "\n  ".join(missing))

    def test_cuda_libraries_and_those_vecmeshd_opens_are_provided(self):
        linked = {name for name, _ in self.libraries}
        opened = {s.decode() for s in SONAME_STRING.findall(Path(DAEMON).read_bytes())} - linked
        cache = ldconfig_paths()
        for soname in sorted(linked | opened):
            cuda = cuda_package_for(soname, self.cuda_runtime)
            if cuda is not None:
                self.assertIsNotNone(cuda[0], f"vecmeshd needs {soname}, which is in NVIDIA's "
                                              f"package {cuda[1]}: {CUDA_RUNTIME_LIST.name} lacks it")
            elif soname in opened:
                # A library vecmeshd opens itself: a Debian one must come with the runtime list.
                path = cache.get(soname)
                self.assertIsNotNone(path, f"vecmeshd names {soname}, which no package here holds")
                owners = dpkg_owners([path])[path]
                self.assertTrue(owners & self.closure,
                                f"vecmeshd opens {soname} ({path}, in {sorted(owners)}), which "
                                f"{RUNTIME_LIST.name} does not provide")

    def test_cuda_lists_agree_on_the_cuda_version(self):
        versions = {cuda_version(p) for p in self.cuda_runtime + self.cuda_build}
        self.assertEqual(len(versions), 1, f"one CUDA version in {CUDA_RUNTIME_LIST.name} and "
                                           f"{CUDA_BUILD_LIST.name}: {versions}")
        self.assertNotIn(None, versions)
        for stem in ("cuda-cudart", "libcublas"):
            self.assertTrue(any(p.startswith(stem + "-") for p in self.cuda_runtime), stem)
        self.assertTrue(any(p.startswith("cuda-nvcc-") for p in self.cuda_build), "nvcc")

    def test_runtime_lists_hold_no_dev_package_and_no_build_tool(self):
        for path, packages in ((RUNTIME_LIST, self.runtime), (CUDA_RUNTIME_LIST, self.cuda_runtime)):
            for package in packages:
                self.assertRegex(package, r"^[a-z0-9][a-z0-9+.-]+$", f"{path.name}: {package}")
                self.assertIsNone(DEV_PACKAGE.search(package), f"{path.name}: {package} is a -dev package")
                self.assertIsNone(BUILD_TOOL.search(package), f"{path.name}: {package} is a build tool")
        pulled = sorted(p for p in self.closure if DEV_PACKAGE.search(p) or BUILD_TOOL.search(p))
        self.assertFalse(pulled, f"{RUNTIME_LIST.name} pulls in build packages: {pulled}")


class DockerfileStructure(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stages = parse_dockerfile(DOCKERFILE.read_text())
        cls.prelude, cls.build, cls.final = cls.stages[0], cls.stages[1], cls.stages[-1]
        cls.help = daemon_help()
        cls.rules = read_dockerignore(DOCKERIGNORE.read_text())

    def test_parser_joins_continuations_and_drops_comments(self):
        stages = parse_dockerfile("ARG A=1\nFROM x AS b\nRUN a \\\n  # note\n\n  && b\n"
                                  "FROM y\nENV K=v \\\n    L=\"w x\"\n")
        self.assertEqual([s.image for s in stages], [None, "x", "y"])
        self.assertEqual(stages[1].name, "b")
        self.assertEqual(stages[1].all("RUN")[0].args.split(), ["a", "&&", "b"])
        self.assertEqual(env_of(stages[2]), {"K": "v", "L": "w x"})

    def test_stages_are_debian_bookworm(self):
        self.assertEqual(len(self.stages), 3, "a build stage and a runtime stage")
        self.assertFalse([i for i in self.prelude.instructions if i.keyword != "ARG"])
        self.assertEqual((self.build.image, self.build.name), ("debian:bookworm", "build"))
        self.assertEqual(self.final.image, "debian:bookworm-slim")

    def test_build_stage_uses_install_deps_and_builds_vecmeshd_alone(self):
        run = self.build.run_text()
        self.assertRegex(run, r"(^|[\s;&|])scripts/install-deps(\s|$)")
        self.assertNotIn("sudo", run, "the build runs as root")
        cmake_lists = (SOURCE / "CMakeLists.txt").read_text()
        options = set(re.findall(r"option\((VECMESH_\w+)", cmake_lists))
        options |= set(re.findall(r"set\((VECMESH_\w+) .* CACHE", cmake_lists))
        for flag in ("-DCMAKE_BUILD_TYPE=Release", "-DVECMESH_TESTS=OFF", "-DVECMESH_BENCH=OFF",
                     '-DVECMESH_CUDA="$VECMESH_CUDA"'):
            self.assertIn(flag, run)
        for name in re.findall(r"-D(VECMESH_\w+)=", run):
            self.assertIn(name, options, f"CMakeLists.txt has no option {name}")
        self.assertRegex(run, r"cmake --build build --target vecmeshd(\s|$)")
        self.assertLess(run.index("scripts/install-deps"), run.index("cmake -S"))

    def test_runtime_stage_copies_the_package_lists(self):
        sources = [s for flags, srcs, _ in copies(self.final) if "from" not in flags for s in srcs]
        self.assertEqual(sorted(sources), ["deploy/docker/runtime-packages-cuda.txt",
                                           "deploy/docker/runtime-packages.txt"])
        # What the step installs from them: RunSteps below.

    def test_runtime_stage_runs_vecmeshd_as_uid_10001_with_data_in_a_volume(self):
        users = [i.args for i in self.final.all("USER")]
        self.assertTrue(users, "no USER: the container would run as root")
        self.assertIn(users[-1].split(":")[0], ("10001", "vecmesh"))
        run = self.final.run_text()
        self.assertRegex(run, r"groupadd --gid 10001 vecmesh")
        self.assertRegex(run, r"useradd --uid 10001 --gid 10001 .*vecmesh")
        self.assertRegex(run, r"install -d -o vecmesh -g vecmesh -m 0750 /data")
        volumes = [v for i in self.final.all("VOLUME") for v in json_or_words(i.args)]
        self.assertEqual(volumes, ["/data"])
        # Docker discards what a later step writes under a volume: /data is owned before VOLUME.
        owner = next(i for i in self.final.all("RUN") if "/data" in i.args)
        self.assertLess(owner.line, self.final.all("VOLUME")[0].line)

    def test_runtime_stage_ports_and_environment_are_vecmeshds(self):
        exposed = {p.split("/")[0] for i in self.final.all("EXPOSE") for p in i.args.split()}
        self.assertEqual(exposed, {"8000", "50051"})
        self.assertEqual({self.help["VECMESH_REST_PORT"], self.help["VECMESH_GRPC_PORT"]}, exposed,
                         "EXPOSE names vecmeshd's default ports")
        env = env_of(self.final)
        self.assertEqual(env.get("VECMESH_HOST"), "0.0.0.0")
        self.assertEqual(env.get("VECMESH_DATA_DIR"), "/data")
        for name in env:
            self.assertIn(name, self.help, f"ENV {name}: vecmeshd reads no such variable")

    def test_entrypoint_is_vecmeshd_copied_from_the_build(self):
        entrypoints = self.final.all("ENTRYPOINT")
        self.assertEqual(json.loads(entrypoints[-1].args), ["vecmeshd"])
        from_build = [(srcs, dest) for flags, srcs, dest in copies(self.final)
                      if flags.get("from") == "build"]
        self.assertIn((["/src/build/api/daemon/vecmeshd"], "/usr/local/bin/vecmeshd"), from_build)
        self.assertEqual(self.build.all("WORKDIR")[-1].args, "/src")
        # Only the binary and the CUDA keyring come from the build stage.
        self.assertEqual(sorted(d for _, d in from_build), ["/tmp/vecmesh/apt/", "/usr/local/bin/vecmeshd"])
        self.assertRegex(self.final.run_text(), r"vecmeshd --help > /dev/null")

    def test_labels_name_the_projects_version(self):
        labels = labels_of(self.final)
        version = re.search(r"project\(vecmesh VERSION ([\d.]+)",
                            (SOURCE / "CMakeLists.txt").read_text()).group(1)
        self.assertEqual(labels.get("org.opencontainers.image.version"), "${VECMESH_VERSION}")
        self.assertEqual(args_of(self.final).get("VECMESH_VERSION"), version)
        self.assertEqual(labels.get("org.opencontainers.image.title"), "vecmesh")
        for name in labels:
            self.assertTrue(name.startswith("org.opencontainers.image."), name)

    def test_no_secret_and_nothing_of_the_tests_in_the_image(self):
        for stage in self.stages:
            for name in list(env_of(stage)) + list(args_of(stage)) + list(labels_of(stage)):
                self.assertNotRegex(name.upper(), r"KEY|PASSWORD|SECRET|TOKEN|CREDENTIAL", name)
            for flags, sources, _ in copies(stage):
                for source in sources:
                    self.assertNotRegex(source, r"(^|/)(tests|bench|docs)(/|$)|\.env$|^deploy/(?!docker/)",
                                        f"{stage.name or stage.image} copies {source}")
            for instruction in stage.all("ADD"):
                self.fail(f"{instruction}: COPY, not ADD (nothing fetched behind the build's back)")

    def test_cuda_variant_is_a_build_argument_off_by_default(self):
        for stage in (self.build, self.final):
            self.assertEqual(args_of(stage).get("VECMESH_CUDA"), "OFF", stage.name or stage.image)
        # What each step does with it: RunSteps below.

    def test_every_copied_file_is_in_the_context(self):
        for stage in self.stages:
            for flags, sources, _ in copies(stage):
                if "from" in flags:
                    continue
                for source in sources:
                    path = SOURCE / source
                    self.assertTrue(path.exists(), f"COPY {source}: no such file")
                    self.assertFalse(ignored(self.rules, source),
                                     f"COPY {source}: .dockerignore excludes it")
                    if path.is_dir():
                        for file in tracked_files(source):
                            self.assertFalse(ignored(self.rules, file),
                                             f"COPY {source}: .dockerignore excludes {file}")

    def test_context_leaves_out_what_the_image_does_not_need(self):
        for path in (".git/HEAD", "build/api/daemon/vecmeshd", "build-tsan/CMakeCache.txt",
                     "build/bench-data/wal", "gpu/build-gpu/CMakeCache.txt", "data/docs/wal",
                     "tests/e2e/node_modules/x/package.json", "api/node_modules/x",
                     "tests/e2e/test_api.py", "tests/deploy/image_test.py", "bench/jobs/jobs_bench.py",
                     "docs/operations.md", "deploy/.env", "deploy/compose.yaml", "README.md",
                     "api/rest/.router.cc.swp", "api/.env"):
            self.assertTrue(ignored(self.rules, path), f"{path} would be in the build context")

    def test_cmake_configures_vecmeshd_from_what_the_build_stage_copies(self):
        with tempfile.TemporaryDirectory(prefix="vecmesh-image-context-") as work:
            context = Path(work) / "src"
            for flags, sources, destination in copies(self.build):
                for source in sources:
                    self.assertEqual(mirrored(source, destination), os.path.normpath(source),
                                     f"COPY {source} {destination}: the build's tree is the repository's")
                    for file in context_files(source, self.rules):
                        (context / file).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(SOURCE / file, context / file)
            variants = [["-DVECMESH_CUDA=OFF"]]
            if Path("/usr/local/cuda/bin/nvcc").exists():
                variants.append(["-DVECMESH_CUDA=ON", "-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc"])
            for n, cuda in enumerate(variants):
                build = context / f"build{n}"
                configure = subprocess.run(
                    ["cmake", "-S", str(context), "-B", str(build), "-G", "Ninja",
                     "-DCMAKE_BUILD_TYPE=Release", "-DVECMESH_TESTS=OFF", "-DVECMESH_BENCH=OFF", *cuda],
                    capture_output=True, text=True, timeout=120)
                self.assertEqual(configure.returncode, 0, f"{cuda}: " + configure.stdout[-3000:]
                                 + configure.stderr[-3000:])
                dry = subprocess.run(["ninja", "-C", str(build), "-n", "vecmeshd"],
                                     capture_output=True, text=True, timeout=60)
                self.assertEqual(dry.returncode, 0, f"{cuda}: " + dry.stdout[-3000:] + dry.stderr[-3000:])


STUB_COMMANDS = ("apt-get", "curl", "dpkg", "dpkg-query", "ldconfig", "rm", "cmake", "npm", "npx",
                 "sudo")
# The only real commands the steps find on their PATH: a step that calls another fails here
# instead of changing this machine.
REAL_COMMANDS = ("sh", "bash", "basename", "dirname", "id", "mkdir", "sed", "find", "xargs", "sort",
                 "cat", "grep")
# Paths the steps below write to or read from, each moved into the test's scratch directory.
MOVED_PATHS = ("/tmp/vecmesh", "/opt/vecmesh-apt", "/var/lib/apt/lists", "/etc/ld.so.conf.d",
               "/usr/local")


class RunSteps(unittest.TestCase):
    """The Dockerfile's own RUN steps that depend on VECMESH_CUDA, run by the stage's SHELL with the
    build arguments as Docker passes them. The system commands are stubs that record their
    arguments (apt-get, curl, dpkg, ldconfig, rm, cmake, npm...), the PATH holds them and a few
    harmless real commands only, and the paths the steps touch are moved into a scratch directory,
    so nothing of this machine changes."""

    @classmethod
    def setUpClass(cls):
        stages = parse_dockerfile(DOCKERFILE.read_text())
        cls.build, cls.final = stages[1], stages[-1]
        cls.runtime = read_list(RUNTIME_LIST)
        cls.cuda_runtime = read_list(CUDA_RUNTIME_LIST)
        cls.cuda_build = read_list(CUDA_BUILD_LIST)

    def setUp(self):
        self.scratch = Path(tempfile.mkdtemp(prefix="vecmesh-image-steps-"))
        self.addCleanup(shutil.rmtree, self.scratch, ignore_errors=True)
        stubs = self.scratch / "stubs"
        stubs.mkdir()
        for name in STUB_COMMANDS:
            stub = stubs / name
            stub.write_text('#!/bin/sh\n{ printf %s "$(basename "$0")"; for a in "$@"; do '
                            'printf "\\037%s" "$a"; done; printf "\\n"; } >> "$STUB_LOG"\n')
            stub.chmod(0o755)
        for name in REAL_COMMANDS:
            (stubs / name).symlink_to(shutil.which(name))
        self.root = self.scratch / "root"
        # The build stage's WORKDIR: the lists where the COPY steps put them.
        self.workdir = self.scratch / "src"
        (self.workdir / "deploy" / "docker").mkdir(parents=True)
        shutil.copy2(CUDA_BUILD_LIST, self.workdir / "deploy" / "docker")
        staged = self.root / "tmp" / "vecmesh"
        (staged / "apt").mkdir(parents=True)
        shutil.copy2(RUNTIME_LIST, staged)
        shutil.copy2(CUDA_RUNTIME_LIST, staged)
        (self.root / "etc" / "ld.so.conf.d").mkdir(parents=True)
        (self.root / "var" / "lib" / "apt" / "lists").mkdir(parents=True)
        # What NVIDIA's packages install: nvcc, the runtime and cuBLAS under /usr/local/cuda-X.Y.
        cuda = self.root / "usr" / "local" / "cuda-13.0"
        (cuda / "bin").mkdir(parents=True)
        (cuda / "bin" / "nvcc").write_text("")
        (cuda / "targets" / "x86_64-linux" / "lib").mkdir(parents=True)
        for name in ("libcudart.so.13", "libcublas.so.13"):
            (cuda / "targets" / "x86_64-linux" / "lib" / name).write_text("")

    def step(self, stage, needle):
        steps = [i for i in stage.all("RUN") if needle in i.args]
        self.assertEqual(len(steps), 1, f"one RUN step of {stage.name} holds {needle!r}")
        return steps[0]

    def run_step(self, stage, instruction, **build_args):
        """Runs instruction (a RUN of stage) as Docker would, the paths moved; (exit status,
        [[command, args...]] of the stubs called, in order)."""
        shells = [json.loads(i.args) for i in stage.all("SHELL") if i.line < instruction.line]
        shell = shells[-1] if shells else ["/bin/sh", "-c"]
        script = instruction.args
        for n, path in enumerate(MOVED_PATHS):
            script = script.replace(path, f"\0{n}\0")
        for path in ("/etc/", "/var/", "/opt/", "/tmp/", "/usr/local"):
            self.assertNotIn(path, script, f"{instruction}: a path of this machine is left in it")
        for n, path in enumerate(MOVED_PATHS):
            script = script.replace(f"\0{n}\0", str(self.root) + path)
        log = self.scratch / "calls"
        log.write_text("")
        env = {"PATH": str(self.scratch / "stubs"), "STUB_LOG": str(log),
               **{k: (v or "") for k, v in args_of(stage).items()},
               **build_args}
        result = subprocess.run([*shell, script], cwd=self.workdir, env=env, capture_output=True,
                                text=True, timeout=60)
        calls = [line.split("\x1f") for line in log.read_text().splitlines()]
        return result.returncode, calls, result.stderr

    def installs(self, calls):
        """The packages of each apt-get install call."""
        return [[a for a in call[2:] if not a.startswith("-")] for call in calls
                if call[:2] == ["apt-get", "install"]]

    def test_build_stage_runs_install_deps_without_the_tests_npm_packages(self):
        (self.workdir / "scripts").mkdir()
        shutil.copy2(INSTALL_DEPS, self.workdir / "scripts")
        status, calls, err = self.run_step(self.build, self.step(self.build, "scripts/install-deps"))
        self.assertEqual(status, 0, err)
        names = [c[0] for c in calls]
        self.assertNotIn("npm", names, "the image needs no npm package (and no npm registry)")
        installs = self.installs([c[1:] if c[0] == "sudo" else c for c in calls])
        self.assertEqual(len(installs), 1)
        self.assertLessEqual({"g++", "cmake", "ninja-build", "libfaiss-dev", "libgrpc++-dev", "librabbitmq-dev"},
                             set(installs[0]), "install-deps installs the build packages")
        tools = {"rabbitmq-server", "prometheus", "nodejs", "npm", "clang", "libgtest-dev", "docker-compose"}
        self.assertFalse(tools & set(installs[0]), "VECMESH_DEPS=build: no test tool in the build stage")

    def test_build_stage_fetches_nothing_from_nvidia_by_default(self):
        step = self.step(self.build, "cuda-keyring")
        status, calls, err = self.run_step(self.build, step)
        self.assertEqual((status, calls), (0, []), err)
        status, calls, err = self.run_step(self.build, step, VECMESH_CUDA="on")
        self.assertNotEqual(status, 0, "VECMESH_CUDA is ON or OFF")
        self.assertIn("VECMESH_CUDA must be ON or OFF", err)
        self.assertEqual(calls, [])

    def test_build_stage_installs_nvcc_from_nvidias_repository_when_asked(self):
        status, calls, err = self.run_step(self.build, self.step(self.build, "cuda-keyring"),
                                           VECMESH_CUDA="ON")
        self.assertEqual(status, 0, err)
        keyring = str(self.root) + "/opt/vecmesh-apt/cuda-keyring.deb"
        names = [c[0] for c in calls]
        fetch = next(i for i, c in enumerate(calls) if c[0] == "curl")
        self.assertEqual(calls[fetch][-1], "https://developer.download.nvidia.com/compute/cuda/repos/"
                                           "debian12/x86_64/cuda-keyring_1.1-1_all.deb")
        self.assertIn(keyring, calls[fetch])
        trust = calls.index(["dpkg", "-i", keyring])
        self.assertLess(fetch, trust)
        self.assertEqual(calls[-1][:2], ["apt-get", "install"])
        self.assertIn("--no-install-recommends", calls[-1])
        self.assertEqual(self.installs(calls)[-1], self.cuda_build)
        self.assertIn(["apt-get", "update", "-qq"], calls[trust:], "NVIDIA's lists, once trusted")
        self.assertNotIn("rm", names)

    def test_build_stage_configures_with_the_cuda_argument(self):
        step = self.step(self.build, "cmake -S")
        status, calls, err = self.run_step(self.build, step)
        self.assertEqual(status, 0, err)
        configure, build = calls
        self.assertIn("-DVECMESH_CUDA=OFF", configure)
        self.assertFalse([a for a in configure if "CMAKE_CUDA_COMPILER" in a])
        self.assertEqual(build, ["cmake", "--build", "build", "--target", "vecmeshd"])
        status, calls, err = self.run_step(self.build, step, VECMESH_CUDA="ON", VECMESH_BUILD_JOBS="3")
        self.assertEqual(status, 0, err)
        configure, build = calls
        self.assertIn("-DVECMESH_CUDA=ON", configure)
        self.assertIn(f"-DCMAKE_CUDA_COMPILER={self.root}/usr/local/cuda-13.0/bin/nvcc", configure)
        self.assertEqual(build[-2:], ["--parallel", "3"])

    def test_runtime_stage_installs_exactly_the_list(self):
        step = self.step(self.final, "runtime-packages.txt")
        status, calls, err = self.run_step(self.final, step)
        self.assertEqual(status, 0, err)
        self.assertEqual(self.installs(calls), [self.runtime])
        install = next(c for c in calls if c[:2] == ["apt-get", "install"])
        self.assertIn("--no-install-recommends", install)
        self.assertNotIn("dpkg", [c[0] for c in calls], "no NVIDIA repository by default")
        self.assertEqual(calls[-1], ["rm", "-rf", f"{self.root}/var/lib/apt/lists/*",
                                     f"{self.root}/tmp/vecmesh"])

    def test_runtime_stage_adds_the_cuda_list_when_asked(self):
        step = self.step(self.final, "runtime-packages.txt")
        status, calls, err = self.run_step(self.final, step, VECMESH_CUDA="ON")
        self.assertEqual(status, 0, err)
        self.assertEqual(self.installs(calls), [self.runtime, self.cuda_runtime],
                         "Debian's packages (the CA certificates) first, then NVIDIA's")
        trust = calls.index(["dpkg", "-i", f"{self.root}/tmp/vecmesh/apt/cuda-keyring.deb"])
        installs = [i for i, c in enumerate(calls) if c[:2] == ["apt-get", "install"]]
        self.assertLess(installs[0], trust)
        self.assertLess(trust, installs[1])
        self.assertIn(["ldconfig"], calls[installs[1]:])
        conf = (self.root / "etc" / "ld.so.conf.d" / "vecmesh-cuda.conf").read_text().split()
        self.assertEqual(conf, [f"{self.root}/usr/local/cuda-13.0/targets/x86_64-linux/lib"],
                         "the loader finds libcudart and libcublas (opened by soname)")


def tracked_files(source):
    """The files git tracks under source (the sources the build needs); without git, every file
    there."""
    if (SOURCE / ".git").exists() and shutil.which("git"):
        out = subprocess.run(["git", "-C", str(SOURCE), "ls-files", "-z", "--", source],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        return [f for f in out.split("\0") if f]
    return [str(p.relative_to(SOURCE)) for p in (SOURCE / source).rglob("*") if p.is_file()]


def mirrored(source, destination):
    """Where COPY source destination puts source, relative to the WORKDIR (a directory's files go
    into destination itself)."""
    if (SOURCE / source).is_dir():
        return os.path.normpath(destination)
    if destination.endswith("/") or destination in (".", "./"):
        return os.path.normpath(os.path.join(destination, os.path.basename(source.rstrip("/"))))
    return os.path.normpath(destination)


def context_files(source, rules):
    """The files of source (a file or a directory of the repository) that get into the context."""
    path = SOURCE / source
    files = [source] if path.is_file() else [
        str(p.relative_to(SOURCE)) for p in path.rglob("*") if p.is_file()]
    return [f for f in files if not ignored(rules, f)]


# --- the HEALTHCHECK, run -------------------------------------------------------------------------

class FakeHealth:
    """A loopback HTTP server answering GET /health with one status, recording the requests."""

    def __init__(self, status):
        self.requests = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append((self.command, self.path))
                code = status if self.path == "/health" else 404
                body = b'{"status": "healthy"}' if code == 200 else b"{}"
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class Vecmeshd(ManagedServer):
    """vecmeshd with the image's environment (on loopback, ports and data of its own)."""

    label = "image_test"
    what = "vecmeshd"
    log_name = "vecmeshd.log"
    extra_ports = ("grpc_port",)

    def __init__(self, env, tls=None):
        super().__init__(start_timeout_s=60)
        self.env, self.tls = env, tls

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _launch(self, port):
        env = dict(self.env, VECMESH_HOST="127.0.0.1", VECMESH_REST_PORT=str(port),
                   VECMESH_GRPC_PORT=str(self.grpc_port), VECMESH_DATA_DIR=str(self.data_dir))
        if self.tls:
            env.update(VECMESH_TLS_CERT_FILE=self.tls[0], VECMESH_TLS_KEY_FILE=self.tls[1])
        with open(self.log_path, "ab") as log:
            return subprocess.Popen([str(DAEMON)], env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def _ready(self, url):
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        try:
            with urllib.request.urlopen(url + "/health", timeout=1, context=context) as response:
                return response.status == 200
        except (OSError, ValueError):
            return False


def host_env():
    """This process's environment without vecmeshd's and Consul's variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("VECMESH_", "CONSUL_"))}


class Healthcheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        final = parse_dockerfile(DOCKERFILE.read_text())[-1]
        cls.options, cls.command = healthcheck_of(final)
        cls.image_env = env_of(final)

    def test_declared_on_get_health_port_8000(self):
        self.assertIsNotNone(self.command, "the runtime stage has a HEALTHCHECK CMD")
        text = " ".join(self.command)
        urls = re.findall(r"\S*://127\.0\.0\.1:(\$\{VECMESH_REST_PORT:-(\d+)\}|\d+)(/[^\s\"']*)", text)
        self.assertEqual(len(urls), 1, text)
        port, default, path = urls[0]
        self.assertEqual(default or port, "8000")
        self.assertEqual(path, "/health", "readiness, not /health/live or /health/deep")
        self.assertIn("busybox", read_list(RUNTIME_LIST), "the check's client is in the image")
        self.assertRegex(text, r"(^|\s)busybox wget ")
        for option in ("interval", "timeout", "start-period", "retries"):
            self.assertIn(option, self.options)

    def check(self, port, env=None):
        """The HEALTHCHECK, as Docker runs it, with VECMESH_REST_PORT=port; its exit status."""
        if not shutil.which("busybox"):
            self.skipTest("busybox (the image's HTTP client, runtime-packages.txt) is not installed "
                          "here: apt-get install busybox")
        env = dict(host_env(), **self.image_env, VECMESH_REST_PORT=str(port), **(env or {}))
        return subprocess.run(self.command, env=env, capture_output=True, text=True, timeout=30)

    def test_healthy_on_200_from_get_health(self):
        with FakeHealth(200) as server:
            result = self.check(server.port)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(server.requests, [("GET", "/health")])

    def test_unhealthy_on_503_and_when_nothing_listens(self):
        with FakeHealth(503) as server:
            result = self.check(server.port)
        self.assertEqual(server.requests, [("GET", "/health")])
        self.assertEqual(result.returncode, 1, "503 (recovering, shutting down): unhealthy")
        port = server.port  # closed now
        self.assertEqual(self.check(port).returncode, 1, "no server: unhealthy")

    def test_healthy_against_vecmeshd_over_http_and_https(self):
        with Vecmeshd(dict(host_env(), **self.image_env)) as daemon:
            result = self.check(daemon.port)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        with tempfile.TemporaryDirectory(prefix="vecmesh-image-tls-") as work:
            cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=vecmesh", "-addext", "subjectAltName=DNS:vecmesh",
                            "-keyout", key, "-out", cert], capture_output=True, check=True, timeout=60)
            with Vecmeshd(dict(host_env(), **self.image_env), tls=(cert, key)) as daemon:
                result = self.check(daemon.port, {"VECMESH_TLS_CERT_FILE": cert,
                                                  "VECMESH_TLS_KEY_FILE": key})
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                # Without the variable the check speaks HTTP to an HTTPS port, and fails.
                self.assertEqual(self.check(daemon.port).returncode, 1)


def main():
    global DAEMON
    args = sys.argv[1:]
    if args and not args[0].startswith("-"):
        DAEMON = Path(args.pop(0)).resolve()
    elif os.environ.get("VECMESH_DAEMON"):
        DAEMON = Path(os.environ["VECMESH_DAEMON"]).resolve()
    if DAEMON is None or not DAEMON.is_file():
        sys.exit("usage: image_test.py VECMESHD [unittest arguments] (or VECMESH_DAEMON=VECMESHD)")
    unittest.main(argv=[sys.argv[0]] + args)


if __name__ == "__main__":
    main()
