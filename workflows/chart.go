package workflows

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strconv"
	"strings"

	"github.com/trailhound/trailhound/detectors"
)

// Chart size in pixels.
const (
	ChartWidth  = 720
	ChartHeight = 360
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
	chartInk  = color.RGBA{0x33, 0x33, 0x33, 0xFF}
	chartGrid = color.RGBA{0xE4, 0xE4, 0xE4, 0xFF}
	chartAxis = color.RGBA{0x99, 0x99, 0x99, 0xFF}
)

// Chart draws findings per day as stacked bars by severity (info at the
// bottom, critical on top), with a title, a scale, day labels and a
// legend, and returns it as a PNG of ChartWidth×ChartHeight.
func Chart(days []DayCount) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, ChartWidth, ChartHeight))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	const scale = 2
	title := "FINDINGS PER DAY BY SEVERITY"
	if len(days) > 0 {
		title += " " + days[0].Day.Format("01-02") + " TO " + days[len(days)-1].Day.Format("01-02")
	}
	drawText(img, 16, 12, title, chartInk, scale)

	left, right, top, bottom := 64, ChartWidth-16, 48, ChartHeight-76
	plotW, plotH := right-left, bottom-top
	most := 0
	for _, d := range days {
		most = max(most, d.Total())
	}
	step := niceStep(most)
	ceil := max(step, (most+step-1)/step*step)
	// Grid lines and the scale.
	for v := 0; v <= ceil; v += step {
		y := bottom - v*plotH/ceil
		fillRect(img, left, y, right, y+1, chartGrid)
		label := strconv.Itoa(v)
		drawText(img, left-8-textWidth(label, scale), y-7*scale/2, label, chartInk, scale)
	}
	fillRect(img, left, top, left+1, bottom+1, chartAxis)
	fillRect(img, left, bottom, right, bottom+1, chartAxis)

	if n := len(days); n > 0 {
		slot := float64(plotW) / float64(n)
		barW := max(1, int(slot*0.7))
		labelEvery := 1
		if lw := textWidth("00-00", scale) + 8; float64(lw) > slot {
			labelEvery = int(float64(lw)/slot) + 1
		}
		for i, d := range days {
			x0 := left + int(slot*float64(i)+(slot-float64(barW))/2)
			cum := 0
			for s := detectors.Info; s <= detectors.Critical; s++ {
				c := d.Findings[s]
				if c == 0 {
					continue
				}
				y1 := bottom - cum*plotH/ceil
				cum += c
				y0 := bottom - cum*plotH/ceil
				fillRect(img, x0, y0, x0+barW, y1, severityRGB[s])
			}
			if t := strconv.Itoa(cum); cum > 0 && textWidth(t, scale) <= int(slot) {
				drawText(img, x0+(barW-textWidth(t, scale))/2, bottom-cum*plotH/ceil-7*scale-4, t, chartInk, scale)
			}
			if i%labelEvery == 0 {
				l := d.Day.Format("01-02")
				drawText(img, x0+(barW-textWidth(l, scale))/2, bottom+8, l, chartInk, scale)
			}
		}
	}
	// Legend, most severe first.
	x, y := left, ChartHeight-32
	for s := detectors.Critical; s >= detectors.Info; s-- {
		fillRect(img, x, y, x+14, y+14, severityRGB[s])
		name := strings.ToUpper(s.String())
		drawText(img, x+20, y, name, chartInk, scale)
		x += 20 + textWidth(name, scale) + 24
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("workflows: encode chart: %w", err)
	}
	return buf.Bytes(), nil
}

// niceStep picks a grid step of 1, 2 or 5 times a power of ten giving at
// most five steps up to most.
func niceStep(most int) int {
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if most <= 5*m*p {
				return m * p
			}
		}
	}
}

func fillRect(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	draw.Draw(img, image.Rect(x0, y0, x1, y1), image.NewUniform(c), image.Point{}, draw.Src)
}

// The font: 5×7 glyphs, one string per row, '#' for ink.
var glyphs = map[rune][7]string{
	'0': {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."},
	'1': {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'2': {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"},
	'3': {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."},
	'4': {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."},
	'5': {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."},
	'6': {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."},
	'7': {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."},
	'8': {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."},
	'9': {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."},
	'A': {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'B': {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."},
	'C': {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."},
	'D': {"###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.."},
	'E': {"#####", "#....", "#....", "####.", "#....", "#....", "#####"},
	'F': {"#####", "#....", "#....", "####.", "#....", "#....", "#...."},
	'G': {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"},
	'H': {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'I': {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'J': {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."},
	'K': {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"},
	'L': {"#....", "#....", "#....", "#....", "#....", "#....", "#####"},
	'M': {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"},
	'N': {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"},
	'O': {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'P': {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."},
	'Q': {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"},
	'R': {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"},
	'S': {".####", "#....", "#....", ".###.", "....#", "....#", "####."},
	'T': {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."},
	'U': {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'V': {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."},
	'W': {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."},
	'X': {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"},
	'Y': {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."},
	'Z': {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"},
	'-': {".....", ".....", ".....", ".###.", ".....", ".....", "....."},
	':': {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."},
	'/': {"....#", "....#", "...#.", "..#..", ".#...", "#....", "#...."},
	'.': {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."},
	'(': {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."},
	')': {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."},
	'%': {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"},
	' ': {".....", ".....", ".....", ".....", ".....", ".....", "....."},
}

// textWidth is the width of s drawn at scale.
func textWidth(s string, scale int) int {
	n := len([]rune(s))
	if n == 0 {
		return 0
	}
	return n*6*scale - scale
}

// drawText draws s with its top-left corner at x, y; lower-case letters
// are drawn upper-case and unknown runes as blanks.
func drawText(img *image.RGBA, x, y int, s string, c color.RGBA, scale int) {
	for _, r := range strings.ToUpper(s) {
		g, ok := glyphs[r]
		if !ok {
			g = glyphs[' ']
		}
		for row, line := range g {
			for col, px := range line {
				if px == '#' {
					fillRect(img, x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale, c)
				}
			}
		}
		x += 6 * scale
	}
}
