package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"

	"github.com/walrusfs/walrusfs/fs/filedata"
)

// Under systemd (Type=notify, NOTIFY_SOCKET set) the daemon says when the
// mount is ready, what it is doing while it runs (STATUS with the upload
// queue), and when it stops. Without NOTIFY_SOCKET nothing is sent.

func notifySystemd(log *slog.Logger, state string) {
	if _, err := sdnotify.SdNotify(false, state); err != nil {
		log.Debug("telling systemd", "state", state, "err", err)
	}
}

// notifyStatus sends READY once, then the upload queue every interval
// until ctx ends.
func notifyStatus(ctx context.Context, engine *filedata.Engine, interval time.Duration, log *slog.Logger) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return
	}
	notifySystemd(log, "READY=1\nSTATUS="+queueStatus(engine))
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			notifySystemd(log, "STATUS="+queueStatus(engine))
		}
	}
}

func queueStatus(engine *filedata.Engine) string {
	r, err := engine.Report()
	if err != nil {
		return "mounted"
	}
	if r.Pending.Chunks == 0 && r.Unsealed == 0 {
		return fmt.Sprintf("mounted; all data uploaded; %d blobs waiting for certification", r.BlobsStored)
	}
	return fmt.Sprintf("mounted; %d chunks (%s) of %d files waiting for upload, %d more not yet sealed", r.Pending.Chunks, humanSize(r.Pending.Bytes), r.Pending.Files, r.Unsealed)
}
