import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './helpers.js';
import type { TestContext } from './live-helpers.js';

/**
 * A camera as RTSP clients see it, for the tests of pulled RTSP sources:
 * FFmpeg cannot serve RTSP to a player (its `listen` mode only receives a
 * publisher), so ffmpeg encodes to plain RTP on a local UDP port and this
 * answers the RTSP requests (OPTIONS, DESCRIBE with ffmpeg's SDP, SETUP over
 * TCP only, PLAY) and relays the RTP packets interleaved on each playing
 * client's connection. UDP transport is refused (461), as some cameras do;
 * FFmpeg's client then asks for TCP.
 */
export interface RtspCamera {
  /** `rtsp://127.0.0.1:<port>/<path>` */
  url: string;
  port: number;
  /** The ffmpeg that encodes; ends after `seconds`, and the server hangs up on its clients then. */
  encoder: ChildProcess;
  done: Promise<void>;
}

export async function rtspCamera(t: TestContext, path: string, seconds: number): Promise<RtspCamera> {
  const dir = tempDir(t);
  const sdpFile = join(dir, 'camera.sdp');
  const rtp = await bindUdp();
  const rtcp = await bindUdp(); // ffmpeg sends its sender reports here; nobody needs them
  const playing = new Set<Socket>();
  rtp.on('message', (packet) => {
    const frame = Buffer.alloc(4 + packet.length);
    frame[0] = 0x24; // '$': interleaved binary data, channel 0
    frame.writeUInt16BE(packet.length, 2);
    packet.copy(frame, 4);
    for (const client of playing) client.write(frame);
  });

  const encoder = spawn(
    'ffmpeg',
    ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30', '-t', String(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-bf', '0',
      '-f', 'rtp', '-sdp_file', sdpFile, `rtp://127.0.0.1:${port(rtp)}?rtcpport=${port(rtcp)}`],
    { stdio: 'ignore' },
  );
  const clients = new Set<Socket>();
  const server = createServer((socket) => {
    clients.add(socket);
    socket.on('close', () => {
      clients.delete(socket);
      playing.delete(socket);
    });
    socket.on('error', () => {});
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const request = pending.slice(0, end);
        pending = pending.slice(end + 4);
        answer(socket, request);
      }
    });
  });
  const answer = (socket: Socket, request: string) => {
    const [method = '', url = ''] = request.split(' ');
    const cseq = /^CSeq:\s*(\d+)/im.exec(request)?.[1] ?? '0';
    const reply = (status: string, headers: string[] = [], body = '') =>
      socket.write([`RTSP/1.0 ${status}`, `CSeq: ${cseq}`, ...headers, ...(body ? [`Content-Length: ${Buffer.byteLength(body)}`] : []), '', ''].join('\r\n') + body);
    if (method !== 'OPTIONS' && !url.includes(`/${path}`)) return reply('404 Not Found');
    switch (method) {
      case 'OPTIONS':
        return reply('200 OK', ['Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER']);
      case 'DESCRIBE': {
        const sdp = readFileSync(sdpFile, 'utf8')
          .replace(/^c=IN IP4 .*$/m, 'c=IN IP4 0.0.0.0')
          .replace(/^m=video \d+ (.*)$/m, 'm=video 0 $1\r\na=control:trackID=0');
        return reply('200 OK', ['Content-Type: application/sdp', `Content-Base: rtsp://127.0.0.1:${port(server)}/${path}/`], sdp);
      }
      case 'SETUP':
        if (!/interleaved/i.test(request)) return reply('461 Unsupported Transport');
        return reply('200 OK', ['Transport: RTP/AVP/TCP;unicast;interleaved=0-1', 'Session: 4f2a91c3;timeout=60']);
      case 'PLAY':
        playing.add(socket);
        return reply('200 OK', ['Session: 4f2a91c3']);
      case 'GET_PARAMETER':
        return reply('200 OK', ['Session: 4f2a91c3']);
      case 'TEARDOWN':
        playing.delete(socket);
        reply('200 OK');
        return socket.end();
      default:
        return reply('405 Method Not Allowed');
    }
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const done = new Promise<void>((resolve) => encoder.on('close', () => resolve()));
  const stop = () => {
    encoder.kill('SIGKILL');
    for (const client of clients) client.destroy();
    server.close();
    rtp.close();
    rtcp.close();
  };
  // The source ends as a camera that goes away: its clients are hung up on.
  void done.then(() => {
    for (const client of clients) client.destroy();
  });
  t.after(stop);
  // DESCRIBE needs the SDP, which ffmpeg writes as it starts.
  for (let i = 0; i < 100 && !existsSync(sdpFile); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!existsSync(sdpFile)) throw new Error('ffmpeg wrote no SDP');
  return { url: `rtsp://127.0.0.1:${port(server)}/${path}`, port: port(server), encoder, done };
}

function port(socket: UdpSocket | ReturnType<typeof createServer>): number {
  const address = socket.address();
  return typeof address === 'object' && address ? address.port : 0;
}

async function bindUdp(): Promise<UdpSocket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}
