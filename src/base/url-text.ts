/**
 * A URL as logs, stats and `frc config` show it: `rtsp://user:secret@cam/…`
 * becomes `rtsp://user:***@cam/…`, and an SRT `passphrase` likewise.
 */
export function withoutPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@]*):[^/@]*@/i, '$1:***@').replace(/([?&]passphrase=)[^&]*/i, '$1***');
}
