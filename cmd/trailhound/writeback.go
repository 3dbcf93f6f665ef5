package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/workflows"
	"github.com/trailhound/trailhound/workflows/securityhub"
)

// loadWriteBack decodes the securityhub section and tells the alert store
// whether to queue decisions about AWS findings for writing back.
func (a *app) loadWriteBack() error {
	opts, err := securityhub.Decode(a.cfg.SecurityHub)
	if err != nil {
		return err
	}
	a.writeBack = opts
	a.alerts.WriteBack = opts.Settings()
	return nil
}

// buildWriteBackSender returns the sender of queued decisions to AWS, nil
// when the write-back is off. It makes no request.
func (a *app) buildWriteBackSender(ctx context.Context) (*workflows.WriteBackSender, error) {
	if !a.writeBack.WriteBack {
		return nil, nil
	}
	w, err := securityhub.New(ctx, a.writeBack, a.cfg.SecurityHub)
	if err != nil {
		return nil, err
	}
	return &workflows.WriteBackSender{Store: a.alerts, Writer: w, BatchSize: a.writeBack.BatchSize, Log: a.log, Fence: a.fence}, nil
}

// writeBackReport adds the write-back's health to a sources report, and a
// problem when it needs a person. It does nothing when the write-back is
// off.
func (a *app) writeBackReport(rep *sourcesReport) error {
	if !a.writeBack.WriteBack {
		return nil
	}
	h, err := a.alerts.WriteBackHealth()
	if err != nil {
		return err
	}
	rep.WriteBack = &h
	if p, bad := h.Problem(); bad {
		kind := sources.ProblemFailing
		if h.Permanent {
			kind = sources.ProblemPermanent
		}
		rep.Problems = append(rep.Problems, sources.Problem{Source: writeBackName, Kind: kind, Since: h.LastFailureAt, Summary: writeBackName + ": " + p})
	}
	return nil
}

// writeBackName names the write-back in source health output.
const writeBackName = "securityhub-writeback"

// printWriteBack prints the write-back's line of `trailhound sources`.
func printWriteBack(w io.Writer, h *workflows.WriteBackHealth, now time.Time) {
	if h == nil {
		return
	}
	fmt.Fprintf(w, "%s: %d decisions waiting, %d findings written (last success %s), %d given up", writeBackName, h.Pending, h.Written, ago(h.LastSuccess, now), h.Failed)
	if h.LastError != "" {
		fmt.Fprintf(w, "; last error: %s", oneLine(h.LastError, 100))
	}
	fmt.Fprintln(w)
}
