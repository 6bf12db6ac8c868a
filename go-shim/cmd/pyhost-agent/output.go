package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"pyhost.dev/pyhost/internal/agent"
)

// defaultPause separates runs of `check --times N`, so rates have a
// meaningful interval.
const defaultPause = time.Second

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func formatProblem(p agent.Problem) string {
	where := p.File
	if p.Line > 0 {
		where = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s: check %s: %s", where, p.Check, p.Message)
}

// printReport writes a check report as the readable tables of `check`.
func printReport(w io.Writer, rep *agent.CheckReport) {
	fmt.Fprintf(w, "=== %s: %d instance(s), %d run(s) ===\n", rep.Check, rep.Instances, rep.Runs)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rep.Metrics) > 0 {
		fmt.Fprintln(tw, "\nMETRIC\tTYPE\tVALUE\tTAGS\tHOST")
		for _, m := range rep.Metrics {
			fmt.Fprintf(tw, "%s\t%s\t%.6g\t%s\t%s\n", m.Name, m.Type, m.Value, strings.Join(m.Tags, ","), m.Hostname)
		}
	}
	if len(rep.ServiceChecks) > 0 {
		fmt.Fprintln(tw, "\nSERVICE CHECK\tSTATUS\tTAGS\tHOST\tMESSAGE")
		for _, sc := range rep.ServiceChecks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", sc.Name, sc.Status, strings.Join(sc.Tags, ","), sc.Hostname, sc.Message)
		}
	}
	if len(rep.HistogramBuckets) > 0 {
		fmt.Fprintln(tw, "\nHISTOGRAM BUCKET\tCOUNT\tBOUNDS\tTAGS\tHOST")
		for _, hb := range rep.HistogramBuckets {
			fmt.Fprintf(tw, "%s\t%.6g\t(%g, %g]\t%s\t%s\n", hb.Name, hb.Value, hb.LowerBound, hb.UpperBound, strings.Join(hb.Tags, ","), hb.Hostname)
		}
	}
	if len(rep.Metadata) > 0 {
		fmt.Fprintln(tw, "\nMETADATA\tVALUE")
		for _, m := range rep.Metadata {
			fmt.Fprintf(tw, "%s\t%s\n", m.Name, m.Value)
		}
	}
	_ = tw.Flush()
	for _, pe := range rep.PlatformEvents {
		fmt.Fprintf(w, "\nEVENT PLATFORM %s: %d bytes\n", pe.EventType, len(pe.RawEvent))
	}
	for _, e := range rep.Events {
		fmt.Fprintf(w, "\nEVENT %q (%s): %s\n", e.Title, e.AlertType, e.Text)
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "\nWARNING: %s\n", warn)
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "\nERROR %s: %s\n", e.Type, e.Message)
		if e.Traceback != "" {
			fmt.Fprintln(w, strings.TrimRight(e.Traceback, "\n"))
		}
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "\nCONFIGURATION: %s\n", formatProblem(p))
	}
	if len(rep.Metrics)+len(rep.ServiceChecks)+len(rep.Events) == 0 && rep.Runs > 0 {
		fmt.Fprintln(w, "\n(nothing submitted)")
	}
	if len(rep.RunCosts) > 0 {
		fmt.Fprintln(w)
	}
	for _, c := range rep.RunCosts {
		cpu := fmt.Sprintf("%.3f ms CPU", c.CPUMS)
		if !c.CPUExact {
			cpu = "≈" + cpu // a short run: its time holding the GIL
		}
		fmt.Fprintf(w, "COST run %d of %s: %.3f ms wall, %s, %.3f ms GIL wait, %s allocated, %s retained\n",
			c.Run, c.CheckID, c.WallMS, cpu, c.GILWaitMS, agent.HumanBytes(c.AllocatedBytes), agent.HumanBytes(c.RetainedBytes))
	}
}

func fetchStatus(listen string) ([]byte, *agent.Status, error) {
	var st agent.Status
	raw, err := getJSON(listen, "/status", &st)
	if err != nil {
		return nil, nil, err
	}
	return raw, &st, nil
}

// getJSON GETs path from the agent at listen and decodes its JSON into v;
// it returns the body as received.
func getJSON(listen, path string, v any) ([]byte, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + listen + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return raw, nil
}

func printStatus(w io.Writer, st *agent.Status) {
	fmt.Fprintf(w, "pyhost-agent %s on %s, up %s%s\n", st.Version, st.Hostname,
		time.Duration(st.UptimeSeconds*float64(time.Second)).Round(time.Second), map[bool]string{true: " (shutting down)"}[st.Stopping])
	fmt.Fprintf(w, "Python %s (%s)\n", strings.Fields(st.Python.Version + " ?")[0], st.Python.Executable)
	fmt.Fprintf(w, "%d instance(s), %d check runner(s), %d series exported\n\n", len(st.Instances), st.CheckRunners, st.Series)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "CHECK\tSTATE\tRUNS\tERRORS\tWARNINGS\tSKIPPED\tTIMEOUTS\tLAST MS\tAVG MS\tMETRICS")
	if st.Accounting {
		fmt.Fprint(tw, "\tCPU\tRETAINED")
	}
	fmt.Fprintln(tw)
	for _, c := range st.Instances {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%d", c.CheckID, c.State, c.Runs, c.Errors,
			c.Warnings, c.Skipped, c.Timeouts, c.LastDurationMS, c.AvgDurationMS, c.MetricsLastRun)
		if st.Accounting {
			fmt.Fprintf(tw, "\t%.2f%%\t%s", 100*c.Cost.CPUShare, agent.HumanBytes(c.Cost.RetainedBytes))
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	for _, c := range st.Instances {
		if c.LastError != nil {
			fmt.Fprintf(w, "\n%s last error: %s: %s\n", c.CheckID, c.LastError.Type, c.LastError.Message)
			if c.LastError.Traceback != "" {
				fmt.Fprintln(w, strings.TrimRight(c.LastError.Traceback, "\n"))
			}
		}
	}
	if len(st.Modules) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MODULE\tSTATE\tRESTARTS\tNOTIFICATIONS\tHEALTH")
		for _, m := range st.Modules {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", m.Name, m.State, m.Restarts, m.Notifications, len(m.Health))
		}
		_ = tw.Flush()
	}
	for _, h := range st.Health {
		fmt.Fprintf(w, "\nHEALTH %s %s (%s): %s\n", strings.ToUpper(h.Severity), h.Code, h.Module, h.Summary)
		for _, d := range h.Detail {
			fmt.Fprintf(w, "    %s\n", d)
		}
	}
	for _, p := range st.Problems {
		fmt.Fprintf(w, "\nCONFIGURATION: %s\n", formatProblem(p))
	}
}

func printVersions(w io.Writer, v agent.VersionInfo) {
	fmt.Fprintf(w, "pyhost %s\n", v.Pyhost)
	fmt.Fprintf(w, "go     %s\n", v.Go)
	if v.Python.Version != "" {
		fmt.Fprintf(w, "python %s\n       executable %s\n       libpython  %s\n", v.Python.Version, v.Python.Executable, v.Python.LibPython)
	} else {
		fmt.Fprintln(w, "python unavailable")
	}
}
