//go:build failpoint

package failpoint

import (
	"fmt"
	"os"
	"sync"
	"syscall"
)

// armed is read once, on the first Hit: the process's failpoint never changes.
var armed = sync.OnceValue(func() string { return os.Getenv("MPESA_BOT_FAILPOINT") })

// Hit kills the process with SIGKILL when name is the armed failpoint: no
// deferred function, no shutdown, no flush — as a power cut would.
func Hit(name string) {
	if name == "" || name != armed() {
		return
	}
	fmt.Fprintf(os.Stderr, "failpoint %s: killing the process\n", name)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}
