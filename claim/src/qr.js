// QR codes drawn in the page (bundled library; nothing is fetched).
import QRCode from "qrcode";

/** Draw `text` on `canvas` with error correction M, scaled to the canvas's CSS width. */
export function drawQr(canvas, text) {
  return QRCode.toCanvas(canvas, text, { errorCorrectionLevel: "M", margin: 4, width: 288, color: { dark: "#000000", light: "#ffffff" } });
}
