/** An exact ratio: a frame rate (`num` frames per `den` seconds) or a time base (`num / den` seconds a tick). */
export interface Rational {
  num: number;
  den: number;
}
