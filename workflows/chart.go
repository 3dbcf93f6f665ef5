package workflows

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/trailhound/trailhound/detectors"
)

// The chart is drawn with gonum.org/v1/plot: pure Go (the binary stays
// static), real fonts (Liberation, embedded), and axes, ticks and
// legends that a reader knows from every other chart.

// Chart size in pixels.
const (
	ChartWidth  = 960
	ChartHeight = 1080
)

// severityRGB are the chart colours, the same as the alert cards'.
var severityRGB = map[detectors.Severity]color.RGBA{
	detectors.Info:     {0x8E, 0x8E, 0x8E, 0xFF},
	detectors.Low:      {0x2E, 0xB8, 0x86, 0xFF},
	detectors.Medium:   {0xDA, 0xA0, 0x38, 0xFF},
	detectors.High:     {0xE8, 0x61, 0x2C, 0xFF},
	detectors.Critical: {0xA3, 0x02, 0x00, 0xFF},
}

// SeverityColor returns the chart colour of a severity.
func SeverityColor(s detectors.Severity) color.RGBA { return severityRGB[s] }

var (
	chartInk     = color.RGBA{0x33, 0x33, 0x33, 0xFF}
	chartStored  = color.RGBA{0x1F, 0x5F, 0xBF, 0xFF}
	chartOpened  = color.RGBA{0xE8, 0x61, 0x2C, 0xFF}
	chartClosed  = color.RGBA{0x2E, 0xB8, 0x86, 0xFF}
	chartAck     = color.RGBA{0x1F, 0x5F, 0xBF, 0xFF}
	chartResolve = color.RGBA{0x6A, 0x3D, 0x9A, 0xFF}
	chartFont    = font.Font{Typeface: "Liberation", Variant: "Sans"}
)

// Chart draws the digest's picture as a PNG of ChartWidth×ChartHeight
// pixels, in three panels:
//   - findings per day by severity, stacked, on the day of their events,
//     with the findings stored each day as a line when that differs (late
//     logs, a backfill); days outside the period appear only when findings
//     happened on them, after a "…" gap;
//   - alerts opened against alerts resolved, per day of the period;
//   - the median time to acknowledge and to resolve, per day of the
//     period, in hours.
func Chart(d *Digest) ([]byte, error) {
	panels := []func(*Digest) (*plot.Plot, error){findingsPanel, alertsPanel, responsePanel}
	c := vgimg.NewWith(vgimg.UseWH(vg.Length(ChartWidth)*vg.Inch/96, vg.Length(ChartHeight)*vg.Inch/96), vgimg.UseDPI(96))
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadTop: 6, PadBottom: 6, PadLeft: 6, PadRight: 10, PadY: 14}
	for i, mk := range panels {
		p, err := mk(d)
		if err != nil {
			return nil, fmt.Errorf("workflows: chart: %w", err)
		}
		p.Draw(tiles.At(dc, 0, i))
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("workflows: chart: %w", err)
	}
	return buf.Bytes(), nil
}

// newPlot returns a plot with the chart's fonts and a title.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(chartFont, 13)
	p.Title.TextStyle.Color = chartInk
	p.Title.Padding = 6
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = font.From(chartFont, 11)
		ax.Label.TextStyle.Color = chartInk
		ax.Tick.Label.Font = font.From(chartFont, 10)
		ax.Tick.Label.Color = chartInk
	}
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	p.Legend.TextStyle.Font = font.From(chartFont, 10)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs, p.Legend.YOffs = 8, -4
	p.Add(plotter.NewGrid())
	return p
}

// dayAxis is a nominal x axis of days: a label per category, "…" where
// days are skipped.
type dayAxis struct {
	labels []string
	// at maps a day to its category.
	at map[time.Time]int
}

// newDayAxis lays out days in order, inserting a gap category between
// days that do not follow each other. Labels carry the year; when there
// are many days, only some are labelled.
func newDayAxis(days []DayCount) dayAxis {
	ax := dayAxis{at: map[time.Time]int{}}
	for i, d := range days {
		if i > 0 && d.Day.Sub(days[i-1].Day) > 24*time.Hour {
			ax.labels = append(ax.labels, "…")
		}
		ax.at[d.Day] = len(ax.labels)
		ax.labels = append(ax.labels, d.Day.Format("2006-01-02"))
	}
	if every := (len(ax.labels) + 11) / 12; every > 1 {
		last := len(ax.labels) - 1 // the latest day is always labelled
		for i := range ax.labels {
			if (last-i)%every != 0 && ax.labels[i] != "…" {
				ax.labels[i] = ""
			}
		}
	}
	return ax
}

// barWidth fits n bars (or groups of bars) in the chart's width.
func barWidth(n int) vg.Length {
	w := vg.Length(ChartWidth-140) / vg.Length(max(n, 1)) * 0.6
	return min(max(w, 1), 40)
}

func findingsPanel(d *Digest) (*plot.Plot, error) {
	title := "Findings per day by severity, on the day of their events (UTC)"
	if !d.Since.IsZero() {
		title = fmt.Sprintf("Findings stored %s to %s, per day of their events, by severity", d.Since.Format("2006-01-02 15:04"), d.Until.Format("2006-01-02 15:04 UTC"))
	}
	p := newPlot(title, "day of the event (UTC)", "findings")
	ax := newDayAxis(d.Days)
	n := len(ax.labels)
	width := barWidth(n)
	var below *plotter.BarChart
	var legend []func() // the most severe first, as the stack reads
	most := 0.0
	totals := make([]float64, n)
	for s := detectors.Info; s <= detectors.Critical; s++ {
		vals := make(plotter.Values, n)
		sum := 0
		for _, dc := range d.Days {
			vals[ax.at[dc.Day]] = float64(dc.Findings[s])
			totals[ax.at[dc.Day]] += float64(dc.Findings[s])
			sum += dc.Findings[s]
		}
		if sum == 0 {
			continue
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, err
		}
		bars.Color = severityRGB[s]
		bars.LineStyle.Width = 0
		if below != nil {
			bars.StackOn(below)
		}
		below = bars
		p.Add(bars)
		label := fmt.Sprintf("%s (%d)", s, sum)
		legend = append([]func(){func() { p.Legend.Add(label, bars) }}, legend...)
	}
	for _, add := range legend {
		add()
	}
	for _, t := range totals {
		most = max(most, t)
	}
	// The findings stored each day, when that is not when they happened.
	differs := false
	var stored plotter.XYs
	for _, dc := range d.Days {
		if dc.Stored != dc.Total() {
			differs = true
		}
		if dc.InPeriod {
			stored = append(stored, plotter.XY{X: float64(ax.at[dc.Day]), Y: float64(dc.Stored)})
			most = max(most, float64(dc.Stored))
		}
	}
	if differs && len(stored) > 0 {
		line, points, err := plotter.NewLinePoints(stored)
		if err != nil {
			return nil, err
		}
		line.Color, points.Color = chartStored, chartStored
		line.Width = vg.Points(1.5)
		points.Shape = draw.CircleGlyph{}
		p.Add(line, points)
		p.Legend.Add("stored that day (read from the logs)", line, points)
	}
	if below == nil {
		p.Title.Text += ": none"
	}
	p.NominalX(ax.labels...)
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	p.Y.Min, p.Y.Max = 0, headroom(most)
	p.Y.Tick.Marker = wholeTicks{}
	return p, nil
}

// periodDays are the digest's days inside its period (Days also holds days
// outside it on which findings happened).
func periodDays(d *Digest) []DayCount {
	var days []DayCount
	for _, dc := range d.Days {
		if dc.InPeriod {
			days = append(days, dc)
		}
	}
	return days
}

func alertsPanel(d *Digest) (*plot.Plot, error) {
	p := newPlot("Alerts opened and resolved per day", "day (UTC)", "alerts")
	days := periodDays(d)
	ax := newDayAxis(days)
	width := barWidth(2 * len(ax.labels))
	opened, closed := make(plotter.Values, len(ax.labels)), make(plotter.Values, len(ax.labels))
	most, nOpened, nClosed := 0.0, 0, 0
	for _, dc := range days {
		opened[ax.at[dc.Day]], closed[ax.at[dc.Day]] = float64(dc.Opened), float64(dc.Closed)
		most = max(most, float64(dc.Opened), float64(dc.Closed))
		nOpened += dc.Opened
		nClosed += dc.Closed
	}
	for _, b := range []struct {
		vals   plotter.Values
		color  color.RGBA
		offset vg.Length
		label  string
	}{
		{opened, chartOpened, -width / 2, fmt.Sprintf("opened (%d)", nOpened)},
		{closed, chartClosed, width / 2, fmt.Sprintf("resolved (%d)", nClosed)},
	} {
		bars, err := plotter.NewBarChart(b.vals, width)
		if err != nil {
			return nil, err
		}
		bars.Color, bars.Offset = b.color, b.offset
		bars.LineStyle.Width = 0
		p.Add(bars)
		p.Legend.Add(b.label, bars)
	}
	p.NominalX(ax.labels...)
	p.Y.Min, p.Y.Max = 0, headroom(most)
	p.Y.Tick.Marker = wholeTicks{}
	return p, nil
}

func responsePanel(d *Digest) (*plot.Plot, error) {
	p := newPlot("Time to acknowledge and to resolve (median of the alerts of each day)", "day (UTC)", "hours")
	days := periodDays(d)
	ax := newDayAxis(days)
	most := 0.0
	for _, s := range []struct {
		get   func(DayCount) Durations
		all   Durations
		color color.RGBA
		name  string
	}{
		{func(dc DayCount) Durations { return dc.Acknowledge }, d.Acknowledge, chartAck, "to acknowledge"},
		{func(dc DayCount) Durations { return dc.Resolve }, d.Resolve, chartResolve, "to resolve"},
	} {
		var xys plotter.XYs
		for _, dc := range days {
			if x := s.get(dc); x.N > 0 {
				h := x.Median.Hours()
				xys = append(xys, plotter.XY{X: float64(ax.at[dc.Day]), Y: h})
				most = max(most, h)
			}
		}
		label := s.name + ": none in the period"
		if s.all.N > 0 {
			label = fmt.Sprintf("%s: median %s over the period (%s)", s.name, formatDur(s.all.Median.Round(time.Minute)), plural(s.all.N, "alert"))
		}
		if len(xys) == 0 {
			// A legend entry still says there was nothing to measure.
			p.Legend.Add(label)
			continue
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		line.Color, points.Color = s.color, s.color
		line.Width = vg.Points(1.5)
		points.Shape = draw.CircleGlyph{}
		p.Add(line, points)
		p.Legend.Add(label, line, points)
	}
	p.NominalX(ax.labels...)
	p.X.Min, p.X.Max = -0.5, float64(len(ax.labels))-0.5
	p.Y.Min, p.Y.Max = 0, headroom(most)
	return p, nil
}

// headroom returns the top of a y axis for data up to most, leaving room
// for the legend above the bars.
func headroom(most float64) float64 {
	if most <= 0 {
		return 1
	}
	return most * 1.45
}

// wholeTicks marks a count axis with whole numbers only: about five
// labelled ticks, 1, 2 or 5 times a power of ten apart.
type wholeTicks struct{}

// Ticks implements plot.Ticker.
func (wholeTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 1.0
find:
	for p := 1.0; p < 1e15; p *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if step = m * p; (hi-lo)/step <= 6 {
				break find
			}
		}
	}
	var out []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', 0, 64)})
	}
	return out
}
