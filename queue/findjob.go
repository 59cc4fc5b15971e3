package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/pishm/pishm/engine/catalog"
	"github.com/redis/go-redis/v9"
)

// findJob waits for the job o names, or any job whose coordinator is
// alive and that skip does not name, and checks that this worker may
// compute it: when it may not, it says why in the job's dead letters
// (once per worker) and returns the job with an error wrapping
// ErrRefused.
func findJob(ctx context.Context, client redis.UniversalClient, r *retrier, o WorkerOptions, skip map[string]bool) (Job, error) {
	var deadline <-chan time.Time
	if o.Wait > 0 {
		t := time.NewTimer(o.Wait)
		defer t.Stop()
		deadline = t.C
	}
	note := o.WaitNote
	if note == 0 {
		note = DefaultWaitNote
	}
	since, nextNote := time.Now(), time.Now().Add(note)
	for {
		if note > 0 && time.Now().After(nextNote) {
			what := "a job"
			if o.Job != "" {
				what = "job " + o.Job
			}
			out := o.Status
			if out == nil {
				out = o.Log
			}
			logTo(out, "worker %s: waiting for %s (%v so far)", o.ID, what, time.Since(since).Round(time.Second))
			nextNote = time.Now().Add(note)
		}
		ids := []string{o.Job}
		if o.Job == "" {
			err := r.do(ctx, "smembers "+jobsKey, func(ctx context.Context) error {
				var err error
				ids, err = client.SMembers(ctx, jobsKey).Result()
				return err
			})
			if err != nil {
				return Job{}, workerErr(ctx, err)
			}
			sort.Strings(ids)
		}
		for _, id := range ids {
			if skip[id] {
				continue
			}
			k := keysOf(id)
			var job, coord, end string
			err := r.do(ctx, "get "+k.job(), func(ctx context.Context) error {
				v, err := client.MGet(ctx, k.job(), k.coord(), k.end()).Result()
				if err == nil {
					job, _ = v[0].(string)
					coord, _ = v[1].(string)
					end, _ = v[2].(string)
				}
				return err
			})
			if err != nil {
				return Job{}, workerErr(ctx, err)
			}
			switch {
			case job == "" && o.Job == "":
				// A coordinator sets the job key before it lists the ID and
				// unlists it first: this one is over.
				client.SRem(ctx, jobsKey, id)
				continue
			case job == "" && end != "":
				if why := endWhy(end); why != "done" {
					return Job{}, fmt.Errorf("%w: job %s: %s", ErrJobEnded, id, why)
				}
				return Job{}, fmt.Errorf("%w: job %s is already done", ErrNoJob, id)
			case job == "":
				continue
			case coord == "" && o.Job == "":
				continue // an orphan: only a worker told its ID joins it
			}
			j, err := decodeJob(job)
			if err != nil {
				if o.Job == "" {
					continue // a job of another protocol: not ours
				}
				return Job{}, fmt.Errorf("%w %s: %v", ErrRefused, id, err)
			}
			if err := compatible(j, o); err != nil {
				return j, refuse(ctx, client, r, j, o.ID, err)
			}
			return j, nil
		}
		select {
		case <-ctx.Done():
			return Job{}, context.Cause(ctx)
		case <-deadline:
			return Job{}, fmt.Errorf("%w within %v", ErrNoJob, o.Wait)
		case <-time.After(o.Poll):
		}
	}
}

func workerErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if errors.Is(err, ErrOutage) {
		return err
	}
	return errorf("%w", err)
}

// refuse puts the reason of worker id's refusal of j in j's dead letters
// (the first time) and marks it as taking no chunk of j, and returns err.
func refuse(ctx context.Context, client redis.UniversalClient, r *retrier, j Job, id string, err error) error {
	d, _ := json.Marshal(map[string]string{"entry": "worker " + id, "worker": id, "reason": err.Error()})
	rerr := r.do(ctx, "refuse", func(ctx context.Context) error {
		_, err := run(ctx, client, banScript, j.ID, id, "refused: "+err.Error(), string(d))
		return err
	})
	if rerr != nil {
		return errors.Join(err, workerErr(ctx, rerr))
	}
	return err
}

// compatible checks that this worker can compute j's chunks bit for bit as
// any other would: its program has j's Func with j's Op, this CPU runs it,
// the Func gives the coordinator's bits on the job's check ranges, and,
// for a Func without a closed form to check it, the program is the
// coordinator's build.
func compatible(j Job, o WorkerOptions) error {
	ops, ok := catalog.Ops(j.Func)
	switch {
	case !ok:
		return fmt.Errorf("%w %s: no Func registered as %q in this worker's program (it has %v)", ErrRefused, j.ID, j.Func, catalog.Funcs())
	case catalog.FormatOps(ops) != j.Op:
		return fmt.Errorf("%w %s: Func %q is registered with op %s in this worker's program, the job says %s", ErrRefused, j.ID, j.Func, catalog.FormatOps(ops), j.Op)
	case j.closedForm() == nil && j.Engine != catalog.BuildID():
		return fmt.Errorf("%w %s: the job comes from another build of the program (engine build %s, this worker's %s): run the same binary on every host", ErrRefused, j.ID, j.Engine, catalog.BuildID())
	}
	if o.Workers != 0 && o.Workers != j.Workers {
		return fmt.Errorf("%w %s: it fixes %d engine workers per chunk, this worker was given %d (set them at the coordinator: they change the result's bits)", ErrRefused, j.ID, j.Workers, o.Workers)
	}
	if o.Mode != "" && o.Mode != j.Mode {
		return fmt.Errorf("%w %s: it fixes mode %s, this worker was given %s (set it at the coordinator)", ErrRefused, j.ID, j.Mode, o.Mode)
	}
	switch id := keyID(o.Key); {
	case j.KeyID != "" && id == "":
		return fmt.Errorf("%w %s: its results must be signed with the job key, and this worker has none (give it the coordinator's: a key file, or %s)", ErrRefused, j.ID, KeyEnv)
	case j.KeyID != "" && id != j.KeyID:
		return fmt.Errorf("%w %s: its key is another than this worker's (key id %s, this worker's %s)", ErrRefused, j.ID, j.KeyID, id)
	}
	if err := catalog.Runnable(j.Func); err != nil {
		return fmt.Errorf("%w %s: %v (start the coordinator with a Func every host runs)", ErrRefused, j.ID, err)
	}
	if j.Check != "" {
		mine, err := knownAnswer(context.Background(), j)
		if err != nil {
			return fmt.Errorf("%w %s: its Func's check ranges fail here: %v", ErrRefused, j.ID, err)
		}
		if mine != j.Check {
			return fmt.Errorf("%w %s: this worker's %q computes other bits than the coordinator's on the job's check ranges (check %s, the job's %s): its code differs, whatever the build stamps say", ErrRefused, j.ID, j.Func, mine, j.Check)
		}
	}
	return nil
}
