package riverjobs

import (
	"context"
	"fmt"
	"net/http"

	"riverqueue.com/riverui"
)

// UIPrefix is where River's web UI is mounted.
const UIPrefix = "/riverui"

// UI returns River's web UI (riverqueue.com/riverui) over this queue's
// database, for operators, to be mounted at UIPrefix behind the API key. It
// runs background services until ctx is done.
func (q *Queue) UI(ctx context.Context) (http.Handler, error) {
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(q.client, nil),
		// The job args are small (the spec is in irisknn_jobs); still,
		// an operator asks to see them.
		JobListHideArgsByDefault: true,
		Logger:                   q.opt.Logger,
		Prefix:                   UIPrefix,
	})
	if err != nil {
		return nil, fmt.Errorf("riverjobs: river UI: %w", err)
	}
	if err := h.Start(ctx); err != nil {
		return nil, fmt.Errorf("riverjobs: river UI: %w", err)
	}
	return h, nil
}
