// emosketch: play a 1-bit pack on a 240x240 ST7789 colour TFT with Adafruit_ST7789, in any two colours. The
// face is the OLED panel's drawing at the TFT's size, from a pack about 9 times smaller than `pack --tft`'s
// two shades (the demo photo's six emotions: 337 KB against 3.0 MB), so it fits beside the sketch in flash.
//
// 1. emosketch pack --input me.jpg --size 240x240 --format gfx --out pack
//    (a 135x240 panel: --size 135x240, 164 KB; a 320x240 ILI9341: --size 320x240, 1.5 MB, since the context
//    codec takes panels up to 256 px wide and a wider one gets the byte codecs, with this sketch's Adafruit_ST7789
//    swapped for Adafruit_ILI9341 and tft.init(...) for tft.begin())
//    drawBitmap sends the frame a pixel at a time (Adafruit_GFX's writePixel), so a 240x240 frame is several
//    hundred KB over SPI: a few frames a second at 40 MHz. The `pack --tft` packs and the adafruit_gfx example
//    send only the spans that change.
// 2. Copy pack/pack.h, pack/emosketch_player.h and pack/emosketch_player.c into this sketch's folder.
// 3. Set the pins below for your board, and upload to a 32-bit board (ESP32, RP2040, SAMD): the player
//    decodes each frame into a RAM buffer of PACK_FRAME_BYTES (7,200 bytes at 240x240).
//
// The gfx pixel format is Adafruit_GFX's bitmap layout (rows, most significant bit first), so drawBitmap
// shows the buffer as it is: a set bit is a lit pixel, which in the default drawing is the paper. Do not
// draw into the buffer yourself: delta frames build on the frame before.
#include <Adafruit_GFX.h>
#include <Adafruit_ST7789.h>
#include <SPI.h>
#include "emosketch_player.h"
#include "pack.h"

#ifndef PACK_FORMAT_GFX
#error "this example draws gfx packs: make the pack with --format gfx"
#endif

#define TFT_CS 5    // your board's pins
#define TFT_DC 16
#define TFT_RST 17
#define LIT ST77XX_WHITE  // the colour of a set bit: the paper in the default drawing (--polarity paper)
#define UNLIT ST77XX_BLACK  // and of a clear one: the strokes

Adafruit_ST7789 tft(TFT_CS, TFT_DC, TFT_RST);
static uint8_t frame[PACK_FRAME_BYTES];
es_player player;
uint32_t lastChange = 0;

void setup() {
  tft.init(PACK_WIDTH, PACK_HEIGHT);
  tft.fillScreen(LIT);
  if (es_player_init(&player, &pack_pack, frame, 0) != ES_OK) {
    for (;;) {}  // pack.h is damaged or from an older emosketch: export it again
  }
}

void loop() {
  uint32_t now = millis();
  if (PACK_EMOTION_COUNT > 1 && now - lastChange > 4000) {
    lastChange = now;
    es_player_request(&player, (uint8_t)((es_player_emotion(&player) + 1) % PACK_EMOTION_COUNT));
  }
  if (es_player_update(&player, now)) {
    tft.drawBitmap(0, 0, frame, PACK_WIDTH, PACK_HEIGHT, LIT, UNLIT);  // every pixel, each with its own address window
  }
}
