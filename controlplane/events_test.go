package controlplane_test

import (
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

func TestEventPosition(t *testing.T) {
	t.Parallel()
	ordered := []controlplane.EventPosition{
		{},
		{Attempt: 0, Stage: controlplane.StageBetween, Seq: 1},
		{Attempt: 0, Stage: controlplane.StageBetween, Seq: 3},
		{Attempt: 1, Stage: controlplane.StageAttemptStarted},
		{Attempt: 1, Stage: controlplane.StagePhase, Seq: 4},
		{Attempt: 1, Stage: controlplane.StageLog, Seq: 9},
		{Attempt: 1, Stage: controlplane.StageLog, Seq: 10},
		{Attempt: 1, Stage: controlplane.StageAttemptEnded},
		{Attempt: 2, Stage: controlplane.StageAttemptStarted},
		{Attempt: 2, Stage: controlplane.StageEnd},
	}
	for i, p := range ordered {
		back, err := controlplane.ParseEventPosition(p.String())
		if err != nil || back != p {
			t.Errorf("%s reads back as %v, %v", p, back, err)
		}
		for j, q := range ordered {
			if got, want := p.After(q), i > j; got != want {
				t.Errorf("%s.After(%s) = %v, want %v", p, q, got, want)
			}
		}
	}
	if p, err := controlplane.ParseEventPosition(""); err != nil || p != (controlplane.EventPosition{}) {
		t.Errorf(`"" is %v, %v; want the position before every event`, p, err)
	}
	for _, bad := range []string{"1", "1.2", "1.2.3.4", "a.b.c", "-1.2.3", "1.2.99999999999999999999"} {
		_, err := controlplane.ParseEventPosition(bad)
		if controlplane.CodeOf(err) != controlplane.CodeInvalidInput {
			t.Errorf("%q: %v, want invalid input", bad, err)
		}
	}
}

func TestLogStreams(t *testing.T) {
	t.Parallel()
	both, out, errs := controlplane.LogStreams{}, controlplane.LogStreams{Stdout: true}, controlplane.LogStreams{Stderr: true}
	for _, c := range []struct {
		s      controlplane.LogStreams
		stream string
		want   bool
	}{
		{both, controlplane.StreamStdout, true}, {both, "", true},
		{out, controlplane.StreamStdout, true}, {out, controlplane.StreamStderr, false}, {out, "", false},
		{errs, controlplane.StreamStderr, true}, {errs, controlplane.StreamStdout, false},
	} {
		if got := c.s.Has(c.stream); got != c.want {
			t.Errorf("%+v.Has(%q) = %v", c.s, c.stream, got)
		}
	}
}

func TestLogTail(t *testing.T) {
	t.Parallel()
	line := func(s string) controlplane.LogLine { return controlplane.LogLine{Text: s} }
	texts := func(ls []controlplane.LogLine) (out []string) {
		for _, l := range ls {
			out = append(out, l.Text)
		}
		return out
	}
	all := controlplane.NewLogTail(0, 100)
	for _, s := range []string{"a", "b", "c"} {
		all.Add(line(s))
	}
	if got := texts(all.Lines()); len(got) != 3 || all.Truncated() {
		t.Errorf("no bound: %v truncated %v", got, all.Truncated())
	}
	two := controlplane.NewLogTail(2, 100)
	for _, s := range []string{"a", "b", "c"} {
		two.Add(line(s))
	}
	if got := texts(two.Lines()); len(got) != 2 || got[0] != "b" || !two.Truncated() {
		t.Errorf("tail 2: %v truncated %v", got, two.Truncated())
	}
	bytes := controlplane.NewLogTail(0, 7) // "aaa\n" + "bbb\n" is 8 bytes
	bytes.Add(line("aaa"))
	bytes.Add(line("bbb"))
	if got := texts(bytes.Lines()); len(got) != 1 || got[0] != "bbb" || !bytes.Truncated() {
		t.Errorf("7 bytes: %v", got)
	}
}
