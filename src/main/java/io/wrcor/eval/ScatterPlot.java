package io.wrcor.eval;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/** A PNG scatter plot of score against accuracy, drawn with Java2D (headless). */
public final class ScatterPlot {
    private ScatterPlot() {
    }

    static {
        System.setProperty("java.awt.headless", "true");
    }

    /** Non-finite x values are left out and counted in the title. */
    public static void write(Path png, String title, String xLabel, String yLabel, double[] x, double[] y) throws IOException {
        int w = 720, h = 540, left = 80, right = 20, top = 50, bottom = 60;
        double x0 = Double.POSITIVE_INFINITY, x1 = Double.NEGATIVE_INFINITY, y0 = Double.POSITIVE_INFINITY, y1 = Double.NEGATIVE_INFINITY;
        int omitted = 0;
        for (int i = 0; i < x.length; i++) {
            if (!Double.isFinite(x[i]) || !Double.isFinite(y[i])) { omitted++; continue; }
            x0 = Math.min(x0, x[i]); x1 = Math.max(x1, x[i]);
            y0 = Math.min(y0, y[i]); y1 = Math.max(y1, y[i]);
        }
        if (x0 > x1) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
        if (x1 == x0) { x0 -= 1; x1 += 1; }
        if (y1 == y0) { y0 -= 1; y1 += 1; }
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        g.setColor(Color.DARK_GRAY);
        g.setStroke(new BasicStroke(1f));
        g.drawRect(left, top, w - left - right, h - top - bottom);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        for (int t = 0; t <= 4; t++) {
            double xv = x0 + (x1 - x0) * t / 4, yv = y0 + (y1 - y0) * t / 4;
            int px = left + (w - left - right) * t / 4, py = h - bottom - (h - top - bottom) * t / 4;
            g.drawString(String.format("%.4g", xv), px - 20, h - bottom + 18);
            g.drawString(String.format("%.4g", yv), 8, py + 4);
        }
        g.drawString(xLabel, left + (w - left - right) / 2 - 40, h - 15);
        g.drawString(yLabel, 8, top - 10);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        g.drawString(title + (omitted > 0 ? "  (" + omitted + " non-finite left out)" : ""), left, 25);
        g.setColor(new Color(31, 119, 180, 110));
        for (int i = 0; i < x.length; i++) {
            if (!Double.isFinite(x[i]) || !Double.isFinite(y[i])) continue;
            int px = left + (int) Math.round((x[i] - x0) / (x1 - x0) * (w - left - right));
            int py = h - bottom - (int) Math.round((y[i] - y0) / (y1 - y0) * (h - top - bottom));
            g.fillOval(px - 3, py - 3, 6, 6);
        }
        g.dispose();
        ImageIO.write(img, "png", png.toFile());
    }
}
