#include <iostream>

struct Point {
    int x;
    int y;
};

Point addPoints(Point a, Point b) {
    return Point{a.x + b.x, a.y + b.y};
}

int absValue(int v) {
    return v < 0 ? -v : v;
}

int manhattan(Point a, Point b) {
    return absValue(a.x - b.x) + absValue(a.y - b.y);
}

int squaredDistance(Point a, Point b) {
    int dx = a.x - b.x;
    int dy = a.y - b.y;
    return dx * dx + dy * dy;
}

void print(const char* label, Point p) {
    std::cout << label << " = (" << p.x << ", " << p.y << ")" << std::endl;
}

int main() {
    Point p1{1, 2};
    Point p2{4, 6};
    print("p1", p1);
    print("p2", p2);
    print("p1 + p2", addPoints(p1, p2));
    std::cout << "Manhattan distance: " << manhattan(p1, p2) << std::endl;
    std::cout << "Squared distance: " << squaredDistance(p1, p2) << std::endl;
    return 0;
}
