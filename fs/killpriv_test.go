package fs

import (
	"encoding/binary"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// opCounter is an Observer that counts requests by operation.
type opCounter struct {
	mu  sync.Mutex
	ops map[string]int
}

func (c *opCounter) Op(op string, _ time.Duration, _ bool) {
	c.mu.Lock()
	c.ops[op]++
	c.mu.Unlock()
}
func (c *opCounter) Read(int)    {}
func (c *opCounter) Written(int) {}

func (c *opCounter) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops[op]
}

// capabilityXattr is a valid security.capability value (revision 2,
// CAP_NET_RAW permitted).
func capabilityXattr() []byte {
	v := make([]byte, 20)
	binary.LittleEndian.PutUint32(v[0:], 0x02000000)
	binary.LittleEndian.PutUint32(v[4:], 1<<13)
	return v
}

// TestWritesClearSetuid: writes and truncates by a user without
// CAP_FSETID clear the setuid bit and the setgid bit when group execute is
// on, as on any Linux filesystem; root's writes keep them; every write
// removes file capabilities; chown clears all three. And the kernel does
// not ask for security.capability before every write.
func TestWritesClearSetuid(t *testing.T) {
	obs := &opCounter{ops: map[string]int{}}
	m := mountObserved(t, t.TempDir(), obs)
	openToOthers(t, m)
	mode := func(p string) uint32 { return lstat(t, p).Mode & 0o7777 }
	setup := func(name string, perm uint32, withCap bool) string {
		p := m.path(name)
		mustDo(t, os.WriteFile(p, []byte("x"), 0o644))
		mustDo(t, os.Chown(p, 1001, 2001))
		mustDo(t, unix.Chmod(p, perm))
		if withCap {
			mustDo(t, unix.Setxattr(p, "security.capability", capabilityXattr(), 0))
		}
		return p
	}
	hasCap := func(p string) bool {
		_, err := unix.Getxattr(p, "security.capability", make([]byte, 64))
		return err == nil
	}

	p := setup("suid-sgid", 0o6777, true)
	mustDo(t, asUser(t, 1002, 2002, "printf y >> "+p))
	if got := mode(p); got != 0o777 || hasCap(p) {
		t.Errorf("after another user's write: mode %o, capability kept %v; want 777 and none", got, hasCap(p))
	}

	p = setup("sgid-no-group-exec", 0o2767, false)
	mustDo(t, asUser(t, 1002, 2002, "printf y >> "+p))
	if got := mode(p); got != 0o2767 {
		t.Errorf("setgid without group execute after another user's write: mode %o, want 2767 (kept)", got)
	}

	p = setup("truncated", 0o6777, false)
	mustDo(t, asUser(t, 1002, 2002, "truncate -s 0 "+p))
	if got := mode(p); got != 0o777 {
		t.Errorf("after another user's truncate: mode %o, want 777", got)
	}

	p = setup("root-writes", 0o6777, true)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	mustDo(t, err)
	_, err = f.WriteString("root")
	mustDo(t, err)
	mustDo(t, f.Close())
	if got := mode(p); got != 0o6777 || hasCap(p) {
		t.Errorf("after root's write: mode %o, capability kept %v; want 6777 and none", got, hasCap(p))
	}
	// Capabilities go with any write, even to a file without setuid
	// (setcap's usual case), whose writes the kernel no longer checks.
	p = setup("setcap", 0o755, true)
	f, err = os.OpenFile(p, os.O_WRONLY, 0)
	mustDo(t, err)
	_, err = f.WriteAt([]byte("w"), 0)
	mustDo(t, err)
	mustDo(t, f.Close())
	if hasCap(p) {
		t.Error("a write left the file's capabilities")
	}

	p = setup("chowned", 0o6777, true)
	mustDo(t, os.Chown(p, 1003, 2003))
	if got := mode(p); got != 0o777 || hasCap(p) {
		t.Errorf("after chown: mode %o, capability kept %v; want 777 and none", got, hasCap(p))
	}
	d := m.path("dir")
	mustDo(t, os.Mkdir(d, 0o755))
	mustDo(t, unix.Chmod(d, 0o2775))
	mustDo(t, os.Chown(d, 1003, 2003))
	if got := mode(d); got != 0o2775 {
		t.Errorf("a directory's setgid after chown: mode %o, want 2775 (kept)", got)
	}

	// Many writes, few requests besides them: no security.capability
	// lookup per write.
	big := m.path("appended")
	f, err = os.Create(big)
	mustDo(t, err)
	before := obs.count("getxattr")
	for range 200 {
		_, err := f.Write(make([]byte, 4096))
		mustDo(t, err)
	}
	mustDo(t, f.Close())
	if n := obs.count("getxattr") - before; n > 10 {
		t.Errorf("%d getxattr requests for 200 writes", n)
	}
}
